//! The shared memory of popular racing titles: names, the games' exact sizes and the section
//! sizes the bridge makes.
//!
//! An exact size is what the game (or its plugin) passes to `CreateFileMappingW`: `sizeof` of
//! the structure of the public header named in `source`, compiled for x86_64 Windows with
//! MinGW (`x86_64-w64-mingw32-g++`, where pointers and `HWND` are 8 bytes). A section is made
//! larger, rounded up to whole pages: the game maps the part it knows, a reader that maps a
//! little more than the game's structure (TinyPedal maps `LMU_Data` at 324 820 bytes) still
//! fits, and a game update that grows a structure by a few bytes does not break the bridge. A
//! smaller section would not serve: the game's `MapViewOfFile` fails with error 5.

use win_shared_memory::sync::{EventReset, Versioning};

/// The page size of x86_64 Windows and Linux, the unit sections are rounded up to.
pub const PAGE: usize = 4096;

/// One section of a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Its name, as the game passes it to `CreateFileMappingW`.
    pub name: &'static str,
    /// The game's own size (`sizeof` of its structure), or `None` when it has no fixed size.
    pub exact: Option<usize>,
    /// The size of the section the bridge makes: at least `exact`, in whole pages.
    pub size: usize,
    /// How the game marks its updates (offsets from the start of the section), so that a
    /// copy of a section the game made first is never torn; `None`: no protocol is known.
    pub versioning: Option<Versioning>,
    /// Native programs write it for the game to read (rF2's control buffers, LMU's lock): a
    /// copy of a section the game made first cannot carry their writes back.
    pub readers_write: bool,
}

/// A region of the game's exact size, made as a section of whole pages.
const fn paged(name: &'static str, exact: usize) -> Region {
    Region {
        name,
        exact: Some(exact),
        size: exact.next_multiple_of(PAGE),
        versioning: None,
        readers_write: false,
    }
}

/// A region that native programs write for the game to read.
const fn written_by_readers(region: Region) -> Region {
    Region {
        readers_write: true,
        ..region
    }
}

/// An rF2 plugin's buffer: `rF2MappedBufferVersionBlock` first (`mVersionUpdateBegin` at 0,
/// `mVersionUpdateEnd` at 4, each `InterlockedIncrement`ed around an update).
const fn rf2_buffer(name: &'static str, exact: usize) -> Region {
    Region {
        versioning: Some(RF2_VERSIONING),
        ..paged(name, exact)
    }
}

/// The rF2 plugin's version block.
pub const RF2_VERSIONING: Versioning = Versioning::BeginEnd { begin: 0, end: 4 };

/// Project CARS 2's and Automobilista 2's `$pcars2$`: `mSequenceNumber`, odd while the game
/// writes, follows the version 6 structure (7 320 bytes; added in version 8, the same offset
/// in 9 and in AMS2's 14, whose additions come after it; MinGW x86_64 `offsetof`).
const fn pcars2(exact: usize) -> Region {
    Region {
        versioning: Some(Versioning::OddEven { sequence: 7_320 }),
        ..paged("$pcars2$", exact)
    }
}

/// One title's regions.
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// The names `--preset` accepts, the first one shown in lists.
    pub titles: &'static [&'static str],
    /// What the preset is for.
    pub about: &'static str,
    /// The sections to make.
    pub regions: &'static [Region],
    /// Whether each name takes the game's Windows process id as a suffix (`--pid`), as the
    /// rF2 plugin's names do in a dedicated server.
    pub pid_suffix: bool,
    /// Named events the title signals in its prefix, forwarded to native waiters, with the
    /// reset mode the game makes them with.
    pub events: &'static [(&'static str, EventReset)],
    /// Where the names and sizes come from, and how they were checked.
    pub source: &'static str,
}

/// rFactor 2 Shared Memory Map Plugin's buffers: each is `rF2MappedBufferVersionBlock` (8
/// bytes) and the buffer's structure (`MappedBuffer.h`, `sizeof(rF2MappedBufferVersionBlock) +
/// sizeof(BuffT)`).
const RFACTOR2_PLUGIN: &[Region] = &RFACTOR2_BUFFERS;

const RFACTOR2_BUFFERS: [Region; 13] = [
    rf2_buffer("$rFactor2SMMP_Telemetry$", 241_680),
    rf2_buffer("$rFactor2SMMP_Scoring$", 75_312),
    rf2_buffer("$rFactor2SMMP_Rules$", 45_272),
    rf2_buffer("$rFactor2SMMP_MultiRules$", 39_792),
    rf2_buffer("$rFactor2SMMP_ForceFeedback$", 16),
    rf2_buffer("$rFactor2SMMP_Graphics$", 272),
    rf2_buffer("$rFactor2SMMP_PitInfo$", 340),
    rf2_buffer("$rFactor2SMMP_Weather$", 632),
    rf2_buffer("$rFactor2SMMP_Extended$", 10_152),
    written_by_readers(rf2_buffer("$rFactor2SMMP_HWControl$", 116)),
    written_by_readers(rf2_buffer("$rFactor2SMMP_WeatherControl$", 628)),
    written_by_readers(rf2_buffer("$rFactor2SMMP_RulesControl$", 45_272)),
    written_by_readers(rf2_buffer("$rFactor2SMMP_PluginControl$", 20)),
];

const RFACTOR2_SOURCE: &str = "TheIronWolfModding/rF2SharedMemoryMapPlugin (commit 102b667, 2024-03-21, GPL-3.0): Include/rF2State.h with Include/InternalsPlugin.hpp, MappedBuffer.h; MinGW x86_64 sizeof";

/// Le Mans Ultimate's own interface, and the rF2 plugin's buffers for the versions that load
/// it.
const LMU_REGIONS: &[Region] = &LMU_SECTIONS;

const LMU_SECTIONS: [Region; 15] = followed_by(
    [
        paged("LMU_Data", 324_824),
        written_by_readers(paged("LMU_SharedMemoryLockData", 8)),
    ],
    RFACTOR2_BUFFERS,
);

/// `first` then `then`, as one array (presets that share another's sections).
const fn followed_by<const A: usize, const B: usize, const C: usize>(
    first: [Region; A],
    then: [Region; B],
) -> [Region; C] {
    assert!(A > 0 && A + B == C, "the lengths add up");
    let mut all = [first[0]; C];
    let mut at = 0;
    while at < C {
        all[at] = if at < A { first[at] } else { then[at - A] };
        at += 1;
    }
    all
}
/// Every preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        titles: &["rfactor2", "rf2"],
        about: "rFactor 2 with the rF2 Shared Memory Map Plugin",
        regions: RFACTOR2_PLUGIN,
        pid_suffix: false,
        events: &[],
        source: RFACTOR2_SOURCE,
    },
    Preset {
        titles: &["rfactor2-dedicated", "rf2-dedicated"],
        about: "an rFactor 2 dedicated server with the plugin: each name ends with the server's Windows process id (--pid)",
        regions: RFACTOR2_PLUGIN,
        pid_suffix: true,
        events: &[],
        source: "as rfactor2; the suffix from MappedBuffer.h (MapMemoryFile: \"%s%s\", name and GetCurrentProcessId() in a process named *Dedicated.exe)",
    },
    Preset {
        titles: &["lmu", "le-mans-ultimate"],
        about: "Le Mans Ultimate: its own LMU_Data and lock, and the rF2 plugin's buffers for versions that load it",
        regions: LMU_REGIONS,
        pid_suffix: false,
        events: &[("LMU_Data_Event", EventReset::Auto)],
        source: "S397 SharedMemoryInterface.hpp (LMU plugin SDK, 2025, shipped in the game's Support folder; licence forbids redistribution, not committed): sizeof(SharedMemoryLayout) with the rF2 plugin's InternalsPlugin.hpp V01 structures (same sizes as LMU's) and ApplicationStateV01 (260 bytes), MinGW x86_64, recompiled from a public copy of the header's text (scoring at 1632, telemetry at 128464); LockData is two LONGs; plugin buffers as rfactor2; LMU_Data_Event (LMU_SHARED_MEMORY_EVENT) is waited on as an auto-reset event in the header's example",
    },
    Preset {
        titles: &["acc", "ac", "assetto-corsa", "assetto-corsa-competizione"],
        about: "Assetto Corsa Competizione; also Assetto Corsa, whose pages are smaller and fit",
        regions: &[
            paged("Local\\acpmf_physics", 800),
            paged("Local\\acpmf_graphics", 1588),
            paged("Local\\acpmf_static", 820),
        ],
        pid_suffix: false,
        events: &[],
        source: "Kunos SharedFileOut.h of ACC (no licence: not committed), SPageFilePhysics, SPageFileGraphic, SPageFileStatic under #pragma pack(4), MinGW x86_64 sizeof, the same from two public copies: SeriousOldMan/Simulator-Controller (commit 240d612, 2026-07-24) Sources/Special/ACC SHM Provider/ACC SHM Provider/SharedFileOut.h and gabbo76/ACC-TX-UDP (commit ba4abb9, 2026-06-23) include/Models/ACC/SharedFileOut.h; as ACC Shared Memory Documentation v1.8.12; Kunos' older ACCSM_Example header (documentation 1.6) is 712, 1320 and 688; TinyPedal/pyACCSharedMemory maps the three structures' sizes",
    },
    Preset {
        titles: &["acevo", "ac-evo", "assetto-corsa-evo"],
        about: "Assetto Corsa EVO (shared memory since 0.6)",
        regions: &[
            paged("Local\\acevo_pmf_physics", 800),
            paged("Local\\acevo_pmf_graphics", 4900),
            paged("Local\\acevo_pmf_static", 208),
        ],
        pid_suffix: false,
        events: &[],
        source: "Kunos SharedFileOut.h of AC EVO (ACE shared memory documentation v1, change log 2026-04-01: car_ids added to SPageFileGraphicEvo; no licence: not committed), SPageFilePhysics, SPageFileGraphicEvo, SPageFileStaticEvo under #pragma pack(4), MinGW x86_64 sizeof, the same from two public copies: SeriousOldMan/Simulator-Controller (commit baa53b1, 2026-05-06) Sources/Special/ACE SHM Provider/ACE SHM Provider/SharedFileOut.h and dSyncro/acevo-shared-memory (commit 9d54c2f, 2026-05-06) src/bindings/source/wrapper.hpp; before car_ids the graphics page was 3940; readers that map 4096, 8192 and 2048 bytes fit",
    },
    Preset {
        titles: &["ams2", "automobilista2"],
        about: "Automobilista 2",
        regions: &[pcars2(20_700)],
        pid_suffix: false,
        events: &[],
        source: "viper4gh/CREST2-AMS2 (commit 534ed28, 2024-01-26): SharedMemory.h, SHARED_MEMORY_VERSION 14, sizeof(SharedMemory), MinGW x86_64 (header \"Copyright MWL, all rights reserved\": not committed)",
    },
    Preset {
        titles: &["pcars2", "project-cars-2"],
        about: "Project CARS 2 (final shared memory API, version 9)",
        regions: &[pcars2(20_576)],
        pid_suffix: false,
        events: &[],
        source: "viper4gh/CREST2-AMS2 (commit 534ed28, 2024-01-26): SharedMemory_v9.h, SHARED_MEMORY_VERSION 9, sizeof(SharedMemory), MinGW x86_64 (not committed, as ams2)",
    },
    Preset {
        titles: &["r3e", "raceroom"],
        about: "RaceRoom Racing Experience",
        regions: &[paged("$R3E", 43_996)],
        pid_suffix: false,
        events: &[],
        source: "sector3studios/r3e-api (commit 29a3e95, 2026-03-20, public domain): sample-c/src/r3e.h, version 3.5, sizeof(r3e_shared), MinGW x86_64",
    },
    Preset {
        titles: &["iracing"],
        about: "iRacing: no fixed size (about 1.1 MiB and growing), so 2 MiB",
        regions: &[Region {
            name: "Local\\IRSDKMemMapFileName",
            exact: None,
            size: 2 << 20,
            versioning: None,
            readers_write: false,
        }],
        pid_suffix: false,
        events: &[("Local\\IRSDKDataValidEvent", EventReset::Manual)],
        source: "iRacing SDK irsdk_defines.h (IRSDK_MEMMAPFILENAME; the header fixes no size; the game sizes the file to its variables); pyirsdk 1.2.4 maps 1 191 936 bytes (MEMMAPFILESIZE); IRSDK_DATAVALIDEVENTNAME, made manual-reset by the SDK's server code (CreateEvent(NULL, true, false, …))",
    },
    Preset {
        titles: &[
            "ets2",
            "ats",
            "euro-truck-simulator-2",
            "american-truck-simulator",
        ],
        about: "Euro Truck Simulator 2 and American Truck Simulator with the scs-sdk-plugin (structure 21 520 bytes in a 32 KiB mapping)",
        regions: &[Region {
            name: "Local\\SCSTelemetry",
            exact: Some(32_768),
            size: 32_768,
            versioning: None,
            readers_write: false,
        }],
        pid_suffix: false,
        events: &[],
        source: "RenCloud/scs-sdk-plugin (commit 2be7683, 2020-12-23, MIT): scs-telemetry-common.hpp SCS_PLUGIN_MMF_SIZE (32*1024), the size the plugin maps; sizeof(scsTelemetryMap_t) 21 520, MinGW x86_64",
    },
    Preset {
        titles: &["rfactor1", "rf1", "ams1", "automobilista1"],
        about: "rFactor 1 and Automobilista 1 with rFactorSharedMemoryMap",
        regions: &[paged("$rFactorShared$", 11_367)],
        pid_suffix: false,
        events: &[],
        source: "dallongo/rFactorSharedMemoryMap (commit afbac1d, 2016-07-27, GPL-2.0): rfSharedStruct.hpp sizeof(rfShared), #pragma pack(1), no pointers (the same for the 32-bit game), MinGW x86_64",
    },
];

/// The preset with this title, in any case.
pub fn find(title: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| {
        preset
            .titles
            .iter()
            .any(|known| known.eq_ignore_ascii_case(title))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_title_is_found_once_in_any_case() {
        for preset in PRESETS {
            for title in preset.titles {
                assert_eq!(find(&title.to_uppercase()), Some(preset));
                let holders = PRESETS.iter().filter(|p| p.titles.contains(title));
                assert_eq!(holders.count(), 1, "{title} names two presets");
            }
        }
        assert_eq!(find("unknown"), None);
    }

    #[test]
    fn every_section_covers_the_game_in_whole_pages() {
        for preset in PRESETS {
            for region in preset.regions {
                assert!(!region.name.is_empty());
                assert!(
                    !region.name.contains(['/', '*', '?', ':']),
                    "{}",
                    region.name
                );
                assert!(
                    region.size > 0 && region.size % PAGE == 0,
                    "{}",
                    region.name
                );
                if let Some(exact) = region.exact {
                    assert!(exact > 0 && exact <= region.size, "{}", region.name);
                }
            }
        }
    }

    fn region(title: &str, name: &str) -> &'static Region {
        find(title)
            .and_then(|preset| preset.regions.iter().find(|region| region.name == name))
            .unwrap_or_else(|| panic!("{title} has no {name}"))
    }

    /// The sizes the games and the popular readers use, from their headers and code (see each
    /// preset's source): the four rF2 buffers that 4-byte pointers once made too small,
    /// TinyPedal's maps of Scoring and LMU_Data, pyirsdk's map of iRacing's file.
    #[test]
    fn the_sizes_cover_the_games_and_their_readers() {
        for title in ["rf2", "lmu", "rf2-dedicated"] {
            for (name, exact) in [
                ("$rFactor2SMMP_Telemetry$", 241_680),
                ("$rFactor2SMMP_Scoring$", 75_312),
                ("$rFactor2SMMP_Rules$", 45_272),
                ("$rFactor2SMMP_MultiRules$", 39_792),
                ("$rFactor2SMMP_RulesControl$", 45_272),
            ] {
                assert_eq!(region(title, name).exact, Some(exact), "{title} {name}");
            }
        }
        assert_eq!(region("lmu", "LMU_Data").exact, Some(324_824));
        assert!(region("lmu", "LMU_Data").size >= 324_820);
        assert!(region("rf2", "$rFactor2SMMP_Scoring$").size >= 75_312);
        assert_eq!(region("pcars2", "$pcars2$").exact, Some(20_576));
        assert_eq!(region("ams2", "$pcars2$").exact, Some(20_700));
        assert!(region("iracing", "Local\\IRSDKMemMapFileName").size >= 1_191_936);
        assert_eq!(region("ets2", "Local\\SCSTelemetry").size, 32_768);
        assert_eq!(region("ams1", "$rFactorShared$").exact, Some(11_367));
        assert_eq!(region("r3e", "$R3E").size, 45_056);
    }

    /// Kunos' SharedFileOut.h of ACC and of AC EVO (see the sources): ACC's three pages, and AC
    /// EVO's graphics page that car_ids grew past one page (3 940 bytes before); readers that
    /// map AC EVO's pages at 4 096, 8 192 and 2 048 bytes fit.
    #[test]
    fn the_kunos_pages_of_acc_and_ac_evo() {
        for (title, name, exact) in [
            ("acc", "Local\\acpmf_physics", 800),
            ("acc", "Local\\acpmf_graphics", 1588),
            ("acc", "Local\\acpmf_static", 820),
            ("acevo", "Local\\acevo_pmf_physics", 800),
            ("acevo", "Local\\acevo_pmf_graphics", 4900),
            ("acevo", "Local\\acevo_pmf_static", 208),
        ] {
            assert_eq!(region(title, name).exact, Some(exact), "{title} {name}");
        }
        assert_eq!(region("acevo", "Local\\acevo_pmf_graphics").size, 8192);
        for (name, mapped) in [
            ("Local\\acevo_pmf_physics", 4096),
            ("Local\\acevo_pmf_graphics", 8192),
            ("Local\\acevo_pmf_static", 2048),
        ] {
            assert!(region("acevo", name).size >= mapped, "{name}");
        }
        assert_eq!(find("assetto-corsa-evo"), find("ACEVO"));
        assert_ne!(find("ac"), find("acevo"));
    }

    #[test]
    fn the_data_events_of_iracing_and_lmu() {
        assert_eq!(
            find("iracing").map(|preset| preset.events),
            Some(&[("Local\\IRSDKDataValidEvent", EventReset::Manual)][..])
        );
        assert_eq!(
            find("lmu").map(|preset| preset.events),
            Some(&[("LMU_Data_Event", EventReset::Auto)][..])
        );
    }

    #[test]
    fn only_the_dedicated_server_names_take_a_pid() {
        for preset in PRESETS {
            let dedicated = preset.titles.iter().any(|t| t.ends_with("-dedicated"));
            assert_eq!(preset.pid_suffix, dedicated, "{:?}", preset.titles);
        }
    }
}
