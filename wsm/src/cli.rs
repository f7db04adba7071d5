//! The command line, parsed without panicking on any input.

use std::ffi::OsString;
use std::time::Duration;

use crate::inspect::{Show, Watch};
use crate::layout::{Layout, parse_region};
use crate::mirror;

/// How to use `wsm`, printed with `--help` and after a usage error.
pub const USAGE: &str = "\
usage: wsm ls [--json] [--all]
       wsm show NAME[:LAYOUT] [--offset BYTES] [--len BYTES]
       wsm watch NAME[:LAYOUT] [--interval MS] [--every MS] [--count N] [--json]
       wsm rm NAME
       wsm mirror publish --listen ENDPOINT... [OPTIONS] NAME[:LAYOUT]...
       wsm mirror subscribe --connect ENDPOINT... [OPTIONS] NAME[:LAYOUT]...

  ls        the regions of this machine (Linux: win-shared-memory's objects in /dev/shm, with
            --all every object: size, owner, mode, holders, live or stale; Windows: every named
            section of this session, with its size); --json prints one JSON object per line
  show      a region's size, layout, version counters and a hexdump of one consistent copy
            (--offset 0 --len 256 unless given)
  watch     a region's update rate, last change and what changed, every --every ms (1000),
            looking every --interval ms (1), --count reports (until the output closes)
  rm        removes a stale region (one that win-shared-memory made and nobody holds)
  mirror    copies live regions to other machines over Zenoh: `publish` where the regions
            are, `subscribe` (any number) where copies of them are wanted; each prints `ready`
            once serving (the subscriber: once every region it names exists here with a
            first whole copy) and runs until its standard input closes

LAYOUT, how the region's writer marks its updates (from the name for rFactor 2's buffers,
raw otherwise): versioned (begin/end counters at 0 and 4, data from 8, as rFactor 2),
seqlock (win-shared-memory's SeqLock as the whole region), double-buffer (its DoubleBuffer as
the whole region; double-buffer@BYTES gives the value's size, needed unless it is a multiple of
4 bytes), raw (no protocol: best effort).

mirror OPTIONS:
  --listen ENDPOINT     listen there (Zenoh's form: tcp/10.0.0.1:7447, tls/host:7447)
  --connect ENDPOINT    connect there
  --config FILE         a Zenoh configuration file (TLS certificates), read first
  --scouting            allow Zenoh's multicast scouting (off by default)
  --prefix KEY          the key expression prefix (wsm/region)
  --poll-us N           how often the publisher looks at every region's counters; a region
                        changing at a steady rate is looked at more often near its next
                        change (1000)
  --full-every-ms N     a full copy at most this often while a region changes (1000)
  --max-size BYTES      the largest region a subscriber creates (268435456)
  --rates-every S       say the frames and bytes sent (received) a second on standard error
                        every S seconds, 0 for never (10)";

/// What the command line asks for.
pub enum Command {
    Help,
    List { json: bool, all: bool },
    Show(Show),
    Watch(Watch),
    Remove(String),
    Mirror(mirror::Options),
}

/// Parses the arguments (without the program name), or says what is wrong with them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| format!("{arg:?} is not valid Unicode"))
        })
        .collect::<Result<_, _>>()?;
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(Command::Help);
    }
    let Some((command, rest)) = args.split_first() else {
        return Err("no command given".to_owned());
    };
    let mut words = Words {
        words: rest.iter(),
        command: command.clone(),
    };
    match command.as_str() {
        "ls" | "list" => {
            let (mut json, mut all) = (false, false);
            while let Some(word) = words.next() {
                match word.as_str() {
                    "--json" => json = true,
                    "--all" => all = true,
                    other => return Err(words.unexpected(other)),
                }
            }
            Ok(Command::List { json, all })
        }
        "show" => {
            let mut request = Show {
                name: String::new(),
                layout: Layout::Raw,
                offset: 0,
                len: 256,
            };
            let mut region = None;
            while let Some(word) = words.next() {
                match word.as_str() {
                    "--offset" => request.offset = words.number("--offset")?,
                    "--len" => request.len = words.number("--len")?,
                    other if !other.starts_with("--") && region.is_none() => {
                        region = Some(parse_region(other)?);
                    }
                    other => return Err(words.unexpected(other)),
                }
            }
            (request.name, request.layout) = region.ok_or("show: which region? (NAME)")?;
            Ok(Command::Show(request))
        }
        "watch" => {
            let mut request = Watch {
                name: String::new(),
                layout: Layout::Raw,
                interval: Duration::from_millis(1),
                report_every: Duration::from_secs(1),
                reports: None,
                json: false,
            };
            let mut region = None;
            while let Some(word) = words.next() {
                match word.as_str() {
                    "--interval" => request.interval = words.millis("--interval")?,
                    "--every" => request.report_every = words.millis("--every")?,
                    "--count" => request.reports = Some(words.positive("--count")?),
                    "--json" => request.json = true,
                    other if !other.starts_with("--") && region.is_none() => {
                        region = Some(parse_region(other)?);
                    }
                    other => return Err(words.unexpected(other)),
                }
            }
            (request.name, request.layout) = region.ok_or("watch: which region? (NAME)")?;
            Ok(Command::Watch(request))
        }
        "rm" | "remove" => match rest {
            [name] if !name.starts_with("--") => Ok(Command::Remove(name.clone())),
            _ => Err("rm: give exactly one region NAME".to_owned()),
        },
        "mirror" => parse_mirror(rest),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn parse_mirror(rest: &[String]) -> Result<Command, String> {
    let (role, rest) = rest.split_first().ok_or("mirror: publish or subscribe?")?;
    let mut options = mirror::Options {
        publish: match role.as_str() {
            "publish" => true,
            "subscribe" => false,
            other => {
                return Err(format!(
                    "mirror: {other:?} is neither publish nor subscribe"
                ));
            }
        },
        ..mirror::Options::default()
    };
    let mut words = Words {
        words: rest.iter(),
        command: format!("mirror {role}"),
    };
    while let Some(word) = words.next() {
        match word.as_str() {
            "--listen" => options.listen.push(words.value("--listen")?),
            "--connect" => options.connect.push(words.value("--connect")?),
            "--config" => options.config = Some(words.value("--config")?.into()),
            "--scouting" => options.scouting = true,
            "--prefix" => options.prefix = words.value("--prefix")?,
            "--poll-us" => {
                options.poll = Duration::from_micros(words.positive("--poll-us")?);
            }
            "--full-every-ms" => options.full_every = words.millis("--full-every-ms")?,
            "--max-size" => options.max_size = words.number("--max-size")?,
            "--rates-every" => {
                let seconds = words.number("--rates-every")? as u64;
                options.rates_every = (seconds > 0).then(|| Duration::from_secs(seconds));
            }
            other if other.starts_with("--") => return Err(words.unexpected(other)),
            region => options.regions.push(parse_region(region)?),
        }
    }
    if options.regions.is_empty() {
        return Err(format!("mirror {role}: which regions? (NAME[:LAYOUT]...)"));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &options.regions {
        if !seen.insert(crate::object_name(name)) {
            return Err(format!("{name} is given twice"));
        }
    }
    if options.publish && options.listen.is_empty() && options.config.is_none() {
        return Err("mirror publish: give --listen ENDPOINT (or --config FILE)".to_owned());
    }
    if !options.publish && options.connect.is_empty() && options.config.is_none() {
        return Err("mirror subscribe: give --connect ENDPOINT (or --config FILE)".to_owned());
    }
    Ok(Command::Mirror(options))
}

/// The words after the command, with the values of options.
struct Words<'a> {
    words: std::slice::Iter<'a, String>,
    command: String,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a String> {
        self.words.next()
    }

    fn value(&mut self, option: &str) -> Result<String, String> {
        self.words
            .next()
            .cloned()
            .ok_or_else(|| format!("{option} needs a value"))
    }

    fn number(&mut self, option: &str) -> Result<usize, String> {
        let value = self.value(option)?;
        let parsed = match value.strip_prefix("0x") {
            Some(hex) => usize::from_str_radix(hex, 16),
            None => value.parse(),
        };
        parsed.map_err(|error| format!("{option} {value:?}: not a number ({error})"))
    }

    /// A number of at least 1: a period of 0 would spin, a count of 0 ask for nothing.
    fn positive(&mut self, option: &str) -> Result<u64, String> {
        match self.number(option)? {
            0 => Err(format!("{option} must be at least 1")),
            count => Ok(count as u64),
        }
    }

    fn millis(&mut self, option: &str) -> Result<Duration, String> {
        self.positive(option).map(Duration::from_millis)
    }

    fn unexpected(&self, word: &str) -> String {
        format!("{}: unexpected {word:?}", self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Command, String> {
        parse(words.iter().map(OsString::from))
    }

    #[test]
    fn mirror_options_and_regions() {
        let Ok(Command::Mirror(options)) = parse_words(&[
            "mirror",
            "subscribe",
            "--connect",
            "tcp/10.0.0.1:7447",
            "$rFactor2SMMP_Telemetry$",
            "state:seqlock",
            "--poll-us",
            "250",
        ]) else {
            panic!("not a mirror");
        };
        assert!(!options.publish);
        assert_eq!(options.connect, ["tcp/10.0.0.1:7447"]);
        assert_eq!(options.poll, Duration::from_micros(250));
        assert_eq!(
            options.regions,
            [
                ("$rFactor2SMMP_Telemetry$".to_owned(), Layout::Versioned),
                ("state".to_owned(), Layout::Seqlock)
            ]
        );
        assert!(!options.scouting);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (words, expected) in [
            (&[][..], "no command"),
            (&["frob"], "unknown command"),
            (&["ls", "--frob"], "unexpected"),
            (&["show"], "which region"),
            (&["show", "x", "--len"], "needs a value"),
            (&["show", "x", "--len", "many"], "not a number"),
            (&["watch", "x", "--every", "0"], "at least 1"),
            (&["watch", "x", "--count", "0"], "at least 1"),
            (
                &["mirror", "publish", "--listen", "e", "x", "--poll-us", "0"],
                "at least 1",
            ),
            (
                &[
                    "mirror",
                    "publish",
                    "--listen",
                    "e",
                    "x",
                    "--rates-every",
                    "often",
                ],
                "not a number",
            ),
            (&["watch", "x:frob"], "unknown layout"),
            (&["rm"], "exactly one"),
            (&["rm", "a", "b"], "exactly one"),
            (&["mirror"], "publish or subscribe"),
            (&["mirror", "serve"], "neither"),
            (
                &["mirror", "publish", "--listen", "tcp/127.0.0.1:1"],
                "which regions",
            ),
            (&["mirror", "publish", "x"], "--listen"),
            (&["mirror", "subscribe", "x"], "--connect"),
            (
                &["mirror", "publish", "--listen", "e", "x", "Local\\x"],
                "twice",
            ),
        ] {
            let Err(error) = parse_words(words) else {
                panic!("{words:?} was accepted");
            };
            assert!(error.contains(expected), "{words:?}: {error}");
        }
    }
}
