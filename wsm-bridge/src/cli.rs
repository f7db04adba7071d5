//! The command line: what to bridge, parsed without panicking on any input.

use std::ffi::OsString;

use crate::presets;

/// How to use the bridge, printed with `--help` and after a usage error.
pub const USAGE: &str = "\
usage: wsm-bridge.exe [--preset TITLE]... [NAME=BYTES]... [--expose NAME]... [--until-killed]
       wsm-bridge.exe --list-presets | --help

Run in a Wine or Proton prefix before the game. Makes each named shared memory section
(NAME=BYTES, and those of --preset TITLE) backed by the host's /dev/shm, so that native Linux
programs using win-shared-memory (or mapping /dev/shm/NAME) see the game's data; prints `ready`
once all exist and holds them until standard input closes (or until terminated, with
--until-killed).

  NAME=BYTES       a section the game will make: its name (`Local\\x` is /dev/shm/x) and size
  --preset TITLE   the sections of a known title (see --list-presets)
  --expose NAME    the reverse: a region a native Linux program made with win-shared-memory,
                   given to the prefix's programs under its name
  --until-killed   ignore standard input; hold until the bridge is terminated";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the usage.
    Help,
    /// Print the presets and their sources.
    ListPresets,
    /// Bridge these regions.
    Bridge(Plan),
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
}

/// Parses the arguments (without the program name), or says what is wrong with them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut plan = Plan::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("{arg:?} is not valid Unicode"))?;
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--list-presets" => return Ok(Command::ListPresets),
            "--until-killed" => plan.until_killed = true,
            "--preset" | "--expose" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value"))?
                    .into_string()
                    .map_err(|value| format!("{value:?} is not valid Unicode"))?;
                if arg == "--expose" {
                    plan.expose.push(value);
                } else {
                    let preset = presets::find(&value)
                        .ok_or_else(|| format!("no preset {value:?} (see --list-presets)"))?;
                    for (name, size) in preset.regions {
                        plan.create.push(((*name).to_owned(), *size));
                    }
                }
            }
            option if option.starts_with("--") => return Err(format!("unknown option {option}")),
            region => plan.create.push(region_and_size(region)?),
        }
    }
    check_each_name_once(&plan)?;
    if plan.create.is_empty() && plan.expose.is_empty() {
        return Err("nothing to bridge: give NAME=BYTES, --preset TITLE or --expose NAME".into());
    }
    Ok(Command::Bridge(plan))
}

/// `NAME=BYTES`, the size in decimal or `0x` hexadecimal.
fn region_and_size(arg: &str) -> Result<(String, usize), String> {
    let (name, bytes) = arg
        .rsplit_once('=')
        .ok_or_else(|| format!("{arg:?} is not NAME=BYTES"))?;
    if name.is_empty() {
        return Err(format!("{arg:?} has no name before `=`"));
    }
    let parsed = match bytes
        .strip_prefix("0x")
        .or_else(|| bytes.strip_prefix("0X"))
    {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => bytes.parse(),
    };
    match parsed {
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
        let object = name.strip_prefix("Local\\").unwrap_or(name);
        if !seen.insert(object) {
            return Err(format!("{name} is given twice"));
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
    fn regions_presets_and_exposures_in_order() {
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
                ("$R3E".to_owned(), 43_996),
                ("b".to_owned(), 4096)
            ]
        );
        assert_eq!(plan.expose, ["c"]);
        assert!(!plan.until_killed);
        assert!(plan_of(&["--until-killed", "x=1"]).until_killed);
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
    fn help_and_list() {
        assert_eq!(parse_words(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse_words(&["x=1", "--list-presets"]),
            Ok(Command::ListPresets)
        );
    }
}
