//! `wsm`: lists, shows, watches and removes the shared memory regions of this machine, and
//! mirrors live regions to other machines over Zenoh (`wsm mirror`).
//!
//! A workspace package of its own on win-shared-memory's public API, so that users of the
//! library never build Zenoh.

mod cli;
mod fields;
mod frame;
mod inspect;
mod layout;
mod mirror;
#[cfg(target_os = "linux")]
mod objects;
mod pace;
#[cfg(windows)]
mod sections;

use std::io::Write;
use std::process::ExitCode;

use cli::{Command, USAGE};

/// The object a region name stands for: `Local\x` and `x` are one region (`/dev/shm/x`, and
/// one section on Windows too).
fn object_name(name: &str) -> &str {
    name.strip_prefix("Local\\").unwrap_or(name)
}

/// Writes `wsm: MESSAGE` to standard error (a closed one is no reason to stop, nor to panic
/// as `eprintln!` would).
fn complain(message: &str) {
    let _ = writeln!(std::io::stderr(), "wsm: {message}");
}

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            complain(&format!("{message}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let result = match command {
        Command::Help => writeln!(out, "{USAGE}").map_err(|error| error.to_string()),
        Command::List { json, all } => list(json, all, &mut out),
        Command::Show(request) => inspect::show(&request, &mut out),
        Command::Watch(request) => inspect::watch(&request, &mut out),
        Command::Remove(name) => remove(&name, &mut out),
        Command::Mirror(options) => {
            drop(out);
            mirror::run(&options)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            complain(&message);
            ExitCode::FAILURE
        }
    }
}

/// `wsm ls`: the crate's objects in `/dev/shm` (all of them with `--all`).
#[cfg(target_os = "linux")]
fn list(json: bool, all: bool, out: &mut dyn Write) -> Result<(), String> {
    let objects = objects::list(all).map_err(|error| error.to_string())?;
    let written = (|| -> std::io::Result<()> {
        if json {
            for object in &objects {
                writeln!(out, "{}", object.json())?;
            }
            return Ok(());
        }
        writeln!(
            out,
            "{:<32} {:>10}  {:<10} {:<5} {:>7}  STATE",
            "NAME", "SIZE", "OWNER", "MODE", "HOLDERS"
        )?;
        for object in &objects {
            let state = match (object.marked, object.held) {
                (true, Some(false)) => "stale",
                (_, Some(true)) => "live",
                (false, Some(false)) => "not held (another program's)",
                (_, None) => "? (not readable)",
            };
            writeln!(
                out,
                "{:<32} {:>10}  {:<10} {:04o}  {:>7}  {state}",
                shown(&object.name),
                object.size,
                object.owner(),
                object.mode,
                object
                    .holders
                    .map_or("?".to_owned(), |count| count.to_string()),
            )?;
        }
        Ok(())
    })();
    written.map_err(|error| format!("writing the list: {error}"))
}

/// `wsm ls` on Windows: the named sections of this session, every one (a section carries no
/// mark of the crate, and no count of its holders that a process may read).
#[cfg(windows)]
fn list(json: bool, _all: bool, out: &mut dyn Write) -> Result<(), String> {
    let sections = sections::list()?;
    let written = (|| -> std::io::Result<()> {
        if json {
            for section in &sections {
                writeln!(out, "{}", section.json())?;
            }
            return Ok(());
        }
        writeln!(out, "{:<40} {:>10}", "NAME", "SIZE")?;
        for section in &sections {
            let size = match &section.size {
                Ok(size) => format!("{size:>10}"),
                Err(why) => format!("{:>10}  ({why})", "?"),
            };
            writeln!(out, "{:<40} {size}", shown(&section.name))?;
        }
        Ok(())
    })();
    written.map_err(|error| format!("writing the list: {error}"))
}

/// macOS: POSIX shared memory objects have no directory that can be listed.
#[cfg(not(any(target_os = "linux", windows)))]
fn list(_json: bool, _all: bool, _out: &mut dyn Write) -> Result<(), String> {
    Err(
        "listing regions is not possible here: this OS's shared memory objects are in no \
         directory that a program may list; `wsm show NAME` and `wsm watch NAME` work here"
            .to_owned(),
    )
}

/// `wsm rm NAME`: removes a stale region by the crate's own rule: joining a marked object
/// that nobody holds removes it.
#[cfg(target_os = "linux")]
fn remove(name: &str, out: &mut dyn Write) -> Result<(), String> {
    let object = objects::find(name)?;
    if !object.marked {
        return Err(format!(
            "`{name}` was not made by win-shared-memory (no sticky bit): its maker decides \
             when it goes; remove {} yourself if you are sure",
            objects::path_of(name).display()
        ));
    }
    match object.held {
        Some(true) => {
            return Err(format!(
                "`{name}` is live: {} process(es) hold it; it goes when the last lets go",
                object
                    .holders
                    .map_or("some".to_owned(), |count| count.to_string())
            ));
        }
        None => {
            return Err(format!(
                "`{name}` cannot be examined: {} is not readable by this user (owner {})",
                objects::path_of(name).display(),
                object.owner()
            ));
        }
        Some(false) => {}
    }
    match win_shared_memory::SharedMemory::<win_shared_memory::ReadOnly>::open(name) {
        Err(error) if error.is_not_found() && !objects::path_of(name).exists() => {
            writeln!(out, "removed {name}").map_err(|error| error.to_string())
        }
        // Someone joined it meanwhile: it is live again, and this hold is let go.
        Ok(_) => Err(format!("`{name}` became live meanwhile: kept")),
        Err(error) => Err(inspect::describe(name, "removing", &error)),
    }
}

#[cfg(not(target_os = "linux"))]
fn remove(name: &str, _out: &mut dyn Write) -> Result<(), String> {
    Err(format!(
        "`{name}`: on this OS a region lives exactly as long as a process holds it, so there \
         is nothing stale to remove"
    ))
}

/// A name as a terminal shows it safely: quoted and escaped when it holds control
/// characters (any program may name an object so).
fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    match name.chars().any(char::is_control) {
        true => format!("{name:?}").into(),
        false => name.into(),
    }
}

/// `text` as a JSON string.
pub fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_with_control_characters_are_shown_escaped() {
        assert_eq!(
            super::shown("$rFactor2SMMP_Telemetry$"),
            "$rFactor2SMMP_Telemetry$"
        );
        assert_eq!(super::shown("a\u{1b}[2Jb"), "\"a\\u{1b}[2Jb\"");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(super::json_string("a\"b\\c\n$"), "\"a\\\"b\\\\c\\u000a$\"");
    }
}
