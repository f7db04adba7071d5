//! The shared memory of popular racing titles: names and exact sizes.
//!
//! A size is the one the game (or its plugin) passes to `CreateFileMappingW`, computed by
//! compiling the public header named in `source` for x86_64 Windows (4-byte packing where the
//! header asks for it). A section larger than a game's own size would serve it too (the game
//! maps the part it knows), a smaller one would not.

/// One title's regions.
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// The names `--preset` accepts, the first one shown in lists.
    pub titles: &'static [&'static str],
    /// What the preset is for.
    pub about: &'static str,
    /// Each region's name and size in bytes.
    pub regions: &'static [(&'static str, usize)],
    /// Where the names and sizes come from.
    pub source: &'static str,
}

/// rFactor 2 Shared Memory Map Plugin's buffers: each is `rF2MappedBufferVersionBlock` (8
/// bytes) and the buffer's structure.
const RFACTOR2_PLUGIN: &[(&str, usize)] = &[
    ("$rFactor2SMMP_Telemetry$", 241_680),
    ("$rFactor2SMMP_Scoring$", 75_304),
    ("$rFactor2SMMP_Rules$", 45_264),
    ("$rFactor2SMMP_MultiRules$", 39_788),
    ("$rFactor2SMMP_ForceFeedback$", 16),
    ("$rFactor2SMMP_Graphics$", 272),
    ("$rFactor2SMMP_PitInfo$", 340),
    ("$rFactor2SMMP_Weather$", 632),
    ("$rFactor2SMMP_Extended$", 10_152),
    ("$rFactor2SMMP_HWControl$", 116),
    ("$rFactor2SMMP_WeatherControl$", 628),
    ("$rFactor2SMMP_RulesControl$", 45_264),
    ("$rFactor2SMMP_PluginControl$", 20),
];

const RFACTOR2_SOURCE: &str = "TheIronWolfModding/rF2SharedMemoryMapPlugin (commit 102b667, 2024-03-21): Include/rF2State.h, MappedBuffer.h (size = sizeof(rF2MappedBufferVersionBlock) + sizeof(buffer)), names from Source/rFactor2SharedMemoryMap.cpp";

/// Every preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        titles: &["rfactor2", "rf2"],
        about: "rFactor 2 with the rF2 Shared Memory Map Plugin",
        regions: RFACTOR2_PLUGIN,
        source: RFACTOR2_SOURCE,
    },
    Preset {
        titles: &["lmu", "le-mans-ultimate"],
        about: "Le Mans Ultimate with the rF2 Shared Memory Map Plugin (LMU's own LMU_Data is not covered)",
        regions: RFACTOR2_PLUGIN,
        source: RFACTOR2_SOURCE,
    },
    Preset {
        titles: &["acc", "ac", "assetto-corsa", "assetto-corsa-competizione"],
        about: "Assetto Corsa Competizione; also Assetto Corsa, whose pages are smaller and fit",
        regions: &[
            ("Local\\acpmf_physics", 800),
            ("Local\\acpmf_graphics", 1588),
            ("Local\\acpmf_static", 820),
        ],
        source: "ACC Shared Memory Documentation v1.8.12 (Kunos): SPageFilePhysics, SPageFileGraphic, SPageFileStatic, #pragma pack(4)",
    },
    Preset {
        titles: &["ams2", "automobilista2"],
        about: "Automobilista 2",
        regions: &[("$pcars2$", 20_700)],
        source: "viper4gh/CREST2-AMS2 (commit 534ed28, 2024-01-26): SharedMemory.h, SHARED_MEMORY_VERSION 14, sizeof(SharedMemory)",
    },
    Preset {
        titles: &["pcars2", "project-cars-2"],
        about: "Project CARS 2",
        regions: &[("$pcars2$", 7_320)],
        source: "viper4gh/CREST2-AMS2 (commit 534ed28, 2024-01-26): SharedMemory_v6.h, SHARED_MEMORY_VERSION 6, sizeof(SharedMemory)",
    },
    Preset {
        titles: &["r3e", "raceroom"],
        about: "RaceRoom Racing Experience",
        regions: &[("$R3E", 43_996)],
        source: "sector3studios/r3e-api (commit 29a3e95, 2026-03-20): sample-c/src/r3e.h, version 3.5, sizeof(r3e_shared)",
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
    fn every_region_is_a_valid_name_with_a_size() {
        for preset in PRESETS {
            for (name, size) in preset.regions {
                assert!(*size > 0 && !name.is_empty(), "{name}");
                assert!(!name.contains(['/', '*', '?', ':']), "{name}");
            }
        }
    }
}
