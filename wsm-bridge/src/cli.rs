//! The command line: what to bridge, parsed without panicking on any input.

use std::ffi::OsString;
use std::path::PathBuf;

use win_shared_memory::sync::{EventReset, Versioning};

use crate::presets;

/// How to use the bridge, printed with `--help` and after a usage error.
pub const USAGE: &str = "\
usage: wsm-bridge.exe [--preset TITLE]... [--pid PID] [NAME=BYTES]... [--expose NAME]...
                      [--event NAME=auto|manual]... [--event-to-windows NAME=auto|manual]...
                      [--versioning NAME=begin-end|odd-even@OFFSET]... [--until-killed]
                      [--when-free]
       wsm-bridge.exe --list-presets | --version | --help
       wsm-bridge launch [--exe PATH] [--wine PATH] [BRIDGE OPTIONS] -- COMMAND...   (native)

Run in a Wine or Proton prefix before the game. Makes each named shared memory section
(NAME=BYTES, and those of --preset TITLE) backed by the host's /dev/shm, so that native Linux
programs using win-shared-memory (or mapping /dev/shm/NAME) see the game's data; prints `ready`
once all exist and holds them until standard input closes (or until terminated, with
--until-killed). An empty /dev/shm/NAME that a native reader made first is adopted (grown, used,
never removed); at the end, a file that a native reader still maps without win-shared-memory's
lock is kept for it, and the next wsm-bridge adopts it. A section the game made already (it
started first) is attached to: the bridge makes /dev/shm/NAME (or adopts a reader's empty file)
of the section's size and copies the game's data into it at each change, by the game's own
versioning when known (the presets', or --versioning), so that native readers never see a torn
copy of it (a section of no known versioning is copied when its bytes change, a best effort);
it holds the game's section until it ends, so a game that restarts meanwhile gets it again. Such
a copy goes one way: what native programs write to a section for the game (rF2's control
buffers, LMU's lock) does not reach it; bridge before the game starts, or use --when-free.

  NAME=BYTES       a section the game will make: its name (`Local\\x` is /dev/shm/x) and size
  --preset TITLE   the sections of a known title (see --list-presets)
  --pid PID        the Windows process id that a dedicated server's names end with
                   (--preset rf2-dedicated)
  --expose NAME    the reverse: a region a native Linux program made with win-shared-memory,
                   given to the prefix's programs under its name
  --event NAME=auto|manual
                   a named event the game sets in the prefix (made with this reset mode if
                   missing): each signal is printed as `set NAME` (wsm-bridge launch sets
                   win-shared-memory's NamedEvent of the name for native waiters)
  --event-to-windows NAME=auto|manual
                   the reverse: each `set NAME` line on standard input sets the prefix's
                   event (pulses a manual-reset one)
  --versioning NAME=begin-end|odd-even@OFFSET
                   how the game marks its updates of section NAME, for a copy when it made
                   the section first: begin and end counters at 0 and 4 (rFactor 2's), or a
                   sequence number at OFFSET, odd while the game writes (Project CARS 2's);
                   without it a section no preset knows is copied when its bytes change
  --until-killed   ignore standard input; hold until the bridge is terminated
  --when-free      a name the game already made (it started first) is bridged as soon as the
                   game has exited, for its next start, instead of copied from now on

`launch` (the native Linux wsm-bridge, for Steam's launch options: `wsm-bridge launch
--preset lmu -- %command%`) starts wsm-bridge.exe (--exe, default: beside the launcher) with
the bridge options in the game's prefix, with the Wine of the command's Proton (its
files/bin/wine, and the prefix $STEAM_COMPAT_DATA_PATH/pfx) or else --wine (default: wine, the
prefix of $WINEPREFIX); runs COMMAND once the bridge is ready; ends the bridge when COMMAND
ends, and exits with COMMAND's exit code.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the usage.
    Help,
    /// Print the presets and their sources.
    ListPresets,
    /// Print the program's name and version.
    Version,
    /// Bridge these regions.
    Bridge(Plan),
    /// Start the bridge in a game's prefix, then the game, and end the bridge with the game.
    Launch(Launch),
}

/// What `launch` starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Launch {
    /// `wsm-bridge.exe`, when given.
    pub exe: Option<PathBuf>,
    /// The Wine to use when the command is no Proton's, when given.
    pub wine: Option<PathBuf>,
    /// The bridge's own arguments, checked, passed on as given.
    pub bridge_args: Vec<OsString>,
    /// What they ask the bridge for (the events to relay).
    pub plan: Plan,
    /// The game's command line (Steam's `%command%`).
    pub command: Vec<OsString>,
}

/// The regions to bridge.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sections to make, backed by /dev/shm: name and size, in command line order.
    pub create: Vec<(String, usize)>,
    /// Native regions to give to the prefix's programs.
    pub expose: Vec<String>,
    /// Hold until terminated rather than until standard input closes.
    pub until_killed: bool,
    /// Wait for a name the prefix has (the game started first) to be free, rather than copy
    /// the game's section.
    pub when_free: bool,
    /// How the game marks its updates of a section, for a copy of a section it made first:
    /// the presets' and `--versioning`'s, by name.
    pub versioning: Vec<(String, Versioning)>,
    /// Sections native programs write for the game to read (the presets' control buffers and
    /// locks), by name: a copy of one the game made first goes one way only.
    pub readers_write: Vec<String>,
    /// Events set in the prefix, forwarded to native waiters.
    pub events_to_native: Vec<(String, EventReset)>,
    /// Native events forwarded to the prefix's waiters.
    pub events_to_windows: Vec<(String, EventReset)>,
}

impl Plan {
    /// How the game marks its updates of section `name`, if a preset or `--versioning` says.
    #[cfg_attr(
        not(windows),
        allow(
            dead_code,
            reason = "the copy of a game's section is the Windows bridge's"
        )
    )]
    pub fn versioning_of(&self, name: &str) -> Option<Versioning> {
        self.versioning
            .iter()
            .find(|(known, _)| same_section(known, name))
            .map(|(_, versioning)| *versioning)
    }

    /// Whether native programs write section `name` for the game to read, if a preset says.
    #[cfg_attr(
        not(windows),
        allow(
            dead_code,
            reason = "the copy of a game's section is the Windows bridge's"
        )
    )]
    pub fn readers_write(&self, name: &str) -> bool {
        self.readers_write
            .iter()
            .any(|known| same_section(known, name))
    }
}

/// Whether two names are one section (`Local\x` is `x`).
fn same_section(one: &str, other: &str) -> bool {
    crate::object_name(one) == crate::object_name(other)
}

/// Parses the arguments (without the program name), or says what is wrong with them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|arg| arg == "launch") {
        args.next();
        return parse_launch(args.collect()).map(Command::Launch);
    }
    parse_bridge(args)
}

/// `launch [--exe PATH] [--wine PATH] BRIDGE OPTIONS -- COMMAND...`: the bridge's options are
/// checked here, so that a mistake is told before anything starts.
fn parse_launch(args: Vec<OsString>) -> Result<Launch, String> {
    let split = args
        .iter()
        .position(|arg| arg == "--")
        .ok_or("launch needs `-- COMMAND...` (in Steam's launch options: `-- %command%`)")?;
    let command = args[split + 1..].to_vec();
    if command.is_empty() {
        return Err("launch needs a command after `--`".into());
    }
    let mut launch = Launch {
        exe: None,
        wine: None,
        bridge_args: Vec::new(),
        plan: Plan::default(),
        command,
    };
    let mut options = args[..split].iter().cloned();
    while let Some(arg) = options.next() {
        let slot = match arg.to_str() {
            Some("--exe") => &mut launch.exe,
            Some("--wine") => &mut launch.wine,
            _ => {
                launch.bridge_args.push(arg);
                continue;
            }
        };
        let value = options
            .next()
            .ok_or_else(|| format!("{} needs a path", arg.to_string_lossy()))?;
        *slot = Some(PathBuf::from(value));
    }
    match parse_bridge(launch.bridge_args.iter().cloned())? {
        Command::Bridge(plan) if plan.until_killed => {
            Err("launch ends the bridge with the game: no --until-killed".into())
        }
        Command::Bridge(plan) => Ok(Launch { plan, ..launch }),
        _ => Err("launch takes bridge options (regions, --preset, --expose), not --help, --version or --list-presets".into()),
    }
}

/// The bridge's own command line.
fn parse_bridge(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut plan = Plan::default();
    let mut presets = Vec::new();
    let mut pid = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("{arg:?} is not valid Unicode"))?;
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--list-presets" => return Ok(Command::ListPresets),
            "--version" | "-V" => return Ok(Command::Version),
            "--until-killed" => plan.until_killed = true,
            "--when-free" => plan.when_free = true,
            "--preset" | "--expose" | "--pid" | "--event" | "--event-to-windows"
            | "--versioning" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value"))?
                    .into_string()
                    .map_err(|value| format!("{value:?} is not valid Unicode"))?;
                match arg.as_str() {
                    "--expose" => plan.expose.push(value),
                    "--event" => plan.events_to_native.push(event_and_reset(&value)?),
                    "--event-to-windows" => plan.events_to_windows.push(event_and_reset(&value)?),
                    "--versioning" => plan.versioning.push(name_and_versioning(&value)?),
                    "--pid" if pid.is_some() => return Err("--pid is given twice".into()),
                    "--pid" => pid = Some(process_id(&value)?),
                    _ => presets.push(
                        presets::find(&value)
                            .ok_or_else(|| format!("no preset {value:?} (see --list-presets)"))?,
                    ),
                }
            }
            option if option.starts_with("--") => return Err(format!("unknown option {option}")),
            region => plan.create.push(region_and_size(region)?),
        }
    }
    add_presets(&mut plan, &presets, pid)?;
    if plan.until_killed && !plan.events_to_windows.is_empty() {
        return Err("--event-to-windows reads standard input, which --until-killed ignores".into());
    }
    check_each_name_once(&plan)?;
    if plan.create.is_empty()
        && plan.expose.is_empty()
        && plan.events_to_native.is_empty()
        && plan.events_to_windows.is_empty()
    {
        return Err("nothing to bridge: give NAME=BYTES, --preset TITLE or --expose NAME".into());
    }
    Ok(Command::Bridge(plan))
}

/// A Windows process id, in decimal (as Wine's `tasklist` and the server's log give it) or
/// `0x` hexadecimal (as `winedbg` does).
fn process_id(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|error| format!("--pid {text:?} is not a process id ({error})"))
}

/// Adds the presets' sections, after the command line's own (whose `--pid` may come after
/// `--preset`), with the PID suffix where a preset's names take one.
fn add_presets(
    plan: &mut Plan,
    presets: &[&presets::Preset],
    pid: Option<u32>,
) -> Result<(), String> {
    let wants_pid = presets.iter().find(|preset| preset.pid_suffix);
    match (wants_pid, pid) {
        (Some(preset), None) => {
            return Err(format!(
                "--preset {} needs --pid PID, the Windows process id its names end with",
                preset.titles[0]
            ));
        }
        (None, Some(_)) => {
            return Err("--pid is only for a preset whose names end with a process id".into());
        }
        _ => {}
    }
    for preset in presets {
        for (name, reset) in preset.events {
            plan.events_to_native.push(((*name).to_owned(), *reset));
        }
        for region in preset.regions {
            let name = match pid {
                Some(pid) if preset.pid_suffix => format!("{}{pid}", region.name),
                _ => region.name.to_owned(),
            };
            if let Some(versioning) = region.versioning {
                plan.versioning.push((name.clone(), versioning));
            }
            if region.readers_write {
                plan.readers_write.push(name.clone());
            }
            plan.create.push((name, region.size));
        }
    }
    Ok(())
}

/// `NAME=auto` or `NAME=manual`: an event and the reset mode it is made with if missing.
fn event_and_reset(arg: &str) -> Result<(String, EventReset), String> {
    let (name, reset) = name_and_value(arg, "NAME=auto or NAME=manual")?;
    let reset = match reset {
        "auto" => EventReset::Auto,
        "manual" => EventReset::Manual,
        _ => return Err(format!("{arg:?}: the reset mode is auto or manual")),
    };
    Ok((name.to_owned(), reset))
}

/// `NAME=VALUE` split at its last `=` (a name may hold one); `expected` says the form in the
/// error when there is none.
fn name_and_value<'a>(arg: &'a str, expected: &str) -> Result<(&'a str, &'a str), String> {
    let (name, value) = arg
        .rsplit_once('=')
        .ok_or_else(|| format!("{arg:?} is not {expected}"))?;
    if name.is_empty() {
        return Err(format!("{arg:?} has no name before `=`"));
    }
    Ok((name, value))
}

/// `NAME=begin-end` or `NAME=odd-even@OFFSET` (the offset in decimal or `0x` hexadecimal).
fn name_and_versioning(arg: &str) -> Result<(String, Versioning), String> {
    let (name, how) = name_and_value(arg, "NAME=begin-end or NAME=odd-even@OFFSET")?;
    let versioning = match how.split_once('@') {
        None if how == "begin-end" => Versioning::BeginEnd { begin: 0, end: 4 },
        Some(("odd-even", offset)) => Versioning::OddEven {
            sequence: number(offset)
                .map_err(|error| format!("{arg:?}: {offset:?} is not an offset ({error})"))?,
        },
        _ => {
            return Err(format!(
                "{arg:?}: the versioning is begin-end or odd-even@OFFSET"
            ));
        }
    };
    Ok((name.to_owned(), versioning))
}

/// A number in decimal or `0x` hexadecimal.
fn number(text: &str) -> Result<usize, std::num::ParseIntError> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => text.parse(),
    }
}

/// `NAME=BYTES`, the size in decimal or `0x` hexadecimal.
fn region_and_size(arg: &str) -> Result<(String, usize), String> {
    let (name, bytes) = name_and_value(arg, "NAME=BYTES")?;
    match number(bytes) {
        Ok(0) => Err(format!("{arg:?}: a section needs at least one byte")),
        Ok(size) => Ok((name.to_owned(), size)),
        Err(error) => Err(format!(
            "{arg:?}: {bytes:?} is not a size in bytes ({error})"
        )),
    }
}

/// Refuses a name given twice (by hand, by two presets or both), whose second section would
/// only find the first.
fn check_each_name_once(plan: &Plan) -> Result<(), String> {
    let names = plan.create.iter().map(|(name, _)| name).chain(&plan.expose);
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(crate::object_name(name)) {
            return Err(format!("{name} is given twice"));
        }
    }
    let events = plan.events_to_native.iter().chain(&plan.events_to_windows);
    let mut seen = std::collections::HashSet::new();
    for (name, _) in events {
        if !seen.insert(crate::object_name(name)) {
            return Err(format!("the event {name} is given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Command, String> {
        parse(words.iter().map(OsString::from))
    }

    fn plan_of(words: &[&str]) -> Plan {
        match parse_words(words) {
            Ok(Command::Bridge(plan)) => plan,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    #[test]
    fn regions_and_exposures_in_order_then_presets() {
        let plan = plan_of(&[
            "Local\\a=16",
            "--preset",
            "R3E",
            "b=0x1000",
            "--expose",
            "c",
        ]);
        assert_eq!(
            plan.create,
            [
                ("Local\\a".to_owned(), 16),
                ("b".to_owned(), 4096),
                ("$R3E".to_owned(), 45_056)
            ]
        );
        assert_eq!(plan.expose, ["c"]);
        assert!(!plan.until_killed);
        assert!(plan_of(&["--until-killed", "x=1"]).until_killed);
        assert!(!plan.when_free);
        assert!(plan_of(&["--when-free", "x=1"]).when_free);
    }

    #[test]
    fn a_dedicated_servers_names_end_with_its_pid() {
        for words in [
            &["--preset", "rf2-dedicated", "--pid", "292"][..],
            &["--pid", "0x124", "--preset", "RF2-DEDICATED"],
        ] {
            let plan = plan_of(words);
            assert_eq!(plan.create.len(), 13);
            assert_eq!(
                plan.create[0],
                ("$rFactor2SMMP_Telemetry$292".to_owned(), 245_760)
            );
            assert!(plan.create.iter().all(|(name, _)| name.ends_with("$292")));
        }
        // A game's names and a server's differ, so both may be bridged at once.
        let both = plan_of(&["--preset", "rf2", "--preset", "rf2-dedicated", "--pid", "8"]);
        assert_eq!(both.create.len(), 26);
    }

    #[test]
    fn launch_takes_bridge_options_then_the_command() {
        let parsed = parse_words(&[
            "launch",
            "--exe",
            "/b/wsm-bridge.exe",
            "--preset",
            "lmu",
            "--",
            "/p/proton",
            "waitforexitandrun",
            "--",
            "game.exe",
        ]);
        let Ok(Command::Launch(launch)) = parsed else {
            panic!("{parsed:?}");
        };
        assert_eq!(launch.exe, Some(PathBuf::from("/b/wsm-bridge.exe")));
        assert_eq!(launch.wine, None);
        assert_eq!(launch.bridge_args, ["--preset", "lmu"]);
        assert_eq!(
            launch.command,
            ["/p/proton", "waitforexitandrun", "--", "game.exe"]
        );
        for (words, expected) in [
            (&["launch", "--preset", "lmu"][..], "needs `-- COMMAND"),
            (&["launch", "--preset", "lmu", "--"], "needs a command"),
            (&["launch", "--", "game"], "nothing to bridge"),
            (&["launch", "--preset", "tetris", "--", "game"], "no preset"),
            (
                &["launch", "x=1", "--until-killed", "--", "game"],
                "no --until-killed",
            ),
            (&["launch", "x=1", "--exe"], "needs `-- COMMAND"),
            (
                &["launch", "x=1", "--wine", "--", "game"],
                "--wine needs a path",
            ),
            (
                &["launch", "--version", "--", "game"],
                "takes bridge options",
            ),
        ] {
            let error = parse_words(words).unwrap_err();
            assert!(error.contains(expected), "{words:?}: {error}");
        }
    }

    #[test]
    fn events_in_both_directions_and_from_presets() {
        let plan = plan_of(&[
            "--event",
            "a=auto",
            "--event-to-windows",
            "b=manual",
            "--preset",
            "lmu",
        ]);
        assert_eq!(
            plan.events_to_native,
            [
                ("a".to_owned(), EventReset::Auto),
                ("LMU_Data_Event".to_owned(), EventReset::Auto)
            ]
        );
        assert_eq!(
            plan.events_to_windows,
            [("b".to_owned(), EventReset::Manual)]
        );
        assert!(plan_of(&["--event", "only=auto"]).create.is_empty());
    }

    #[test]
    fn versionings_from_presets_and_the_command_line() {
        let plan = plan_of(&[
            "--preset",
            "rf2",
            "--versioning",
            "Local\\mine=odd-even@0x10",
            "--preset",
            "ams2",
        ]);
        let rf2 = Versioning::BeginEnd { begin: 0, end: 4 };
        assert_eq!(plan.versioning_of("$rFactor2SMMP_Telemetry$"), Some(rf2));
        assert_eq!(
            plan.versioning_of("Local\\$rFactor2SMMP_Scoring$"),
            Some(rf2)
        );
        assert_eq!(
            plan.versioning_of("mine"),
            Some(Versioning::OddEven { sequence: 16 })
        );
        assert_eq!(
            plan.versioning_of("$pcars2$"),
            Some(Versioning::OddEven { sequence: 7_320 })
        );
        assert_eq!(plan.versioning_of("other"), None);
        assert_eq!(
            plan_of(&["x=1", "--versioning", "x=begin-end"]).versioning_of("x"),
            Some(rf2)
        );
        let dedicated = plan_of(&["--preset", "rf2-dedicated", "--pid", "7"]);
        assert_eq!(dedicated.versioning_of("$rFactor2SMMP_Rules$7"), Some(rf2));
        assert_eq!(dedicated.versioning_of("$rFactor2SMMP_Rules$"), None);
    }

    #[test]
    fn the_sections_readers_write_come_from_the_presets() {
        let plan = plan_of(&["--preset", "lmu", "x=1"]);
        assert!(plan.readers_write("$rFactor2SMMP_HWControl$"));
        assert!(plan.readers_write("Local\\$rFactor2SMMP_PluginControl$"));
        assert!(plan.readers_write("LMU_SharedMemoryLockData"));
        assert!(!plan.readers_write("$rFactor2SMMP_Telemetry$"));
        assert!(!plan.readers_write("LMU_Data"));
        assert!(!plan.readers_write("x"));
        let dedicated = plan_of(&["--preset", "rf2-dedicated", "--pid", "7"]);
        assert!(dedicated.readers_write("$rFactor2SMMP_RulesControl$7"));
        assert!(!dedicated.readers_write("$rFactor2SMMP_RulesControl$"));
    }

    #[test]
    fn a_name_may_contain_an_equals_sign() {
        assert_eq!(plan_of(&["a=b=8"]).create, [("a=b".to_owned(), 8)]);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (words, expected) in [
            (&[][..], "nothing to bridge"),
            (&["x"], "not NAME=BYTES"),
            (&["=8"], "no name"),
            (&["x=0"], "at least one byte"),
            (&["x=-1"], "not a size"),
            (&["x=99999999999999999999999"], "not a size"),
            (&["x=0xZZ"], "not a size"),
            (&["--preset"], "needs a value"),
            (&["--preset", "tetris"], "no preset"),
            (&["--frobnicate"], "unknown option"),
            (&["Local\\x=8", "x=16"], "given twice"),
            (&["--preset", "rf2", "--preset", "lmu"], "given twice"),
            (&["x=8", "--expose", "x"], "given twice"),
            (&["--preset", "rf2-dedicated"], "needs --pid"),
            (&["--preset", "rf2", "--pid", "8"], "only for a preset"),
            (
                &["--preset", "rf2-dedicated", "--pid", "-1"],
                "not a process id",
            ),
            (
                &["--preset", "rf2-dedicated", "--pid", "4294967296"],
                "not a process id",
            ),
            (&["--pid", "8", "--pid", "8"], "given twice"),
            (&["--event", "e"], "not NAME=auto"),
            (&["x=1", "--versioning", "x"], "not NAME=begin-end"),
            (&["x=1", "--versioning", "=begin-end"], "no name"),
            (
                &["x=1", "--versioning", "x=seqlock"],
                "begin-end or odd-even",
            ),
            (&["x=1", "--versioning", "x=odd-even@"], "not an offset"),
            (&["x=1", "--versioning", "x=odd-even@-4"], "not an offset"),
            (&["--event", "e=sometimes"], "auto or manual"),
            (&["--event", "=auto"], "no name"),
            (
                &["--until-killed", "--event-to-windows", "e=auto"],
                "which --until-killed ignores",
            ),
            (
                &["--event", "e=auto", "--event-to-windows", "Local\\e=auto"],
                "given twice",
            ),
            (
                &[
                    "--preset",
                    "iracing",
                    "--event",
                    "Local\\IRSDKDataValidEvent=auto",
                ],
                "given twice",
            ),
        ] {
            let error = parse_words(words).unwrap_err();
            assert!(error.contains(expected), "{words:?}: {error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_unicode_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let error = parse([OsString::from_vec(vec![0xff, b'=', b'1'])]).unwrap_err();
        assert!(error.contains("Unicode"));
    }

    #[test]
    fn help_version_and_list() {
        assert_eq!(parse_words(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_words(&["--version"]), Ok(Command::Version));
        assert_eq!(
            parse_words(&["x=1", "--list-presets"]),
            Ok(Command::ListPresets)
        );
    }
}
