//! `wsm-bridge.exe`: shares the shared memory of Windows programs under Wine or Proton with
//! native Linux programs, through the host's `/dev/shm`, using win-shared-memory's
//! [`Options::linux_host`](win_shared_memory::Options::linux_host).
//!
//! Started in the game's prefix before the game, it makes each named section from a
//! `/dev/shm` file; the game's `CreateFileMappingW(INVALID_HANDLE_VALUE, …, name)` then gets
//! that section (`ERROR_ALREADY_EXISTS`, which games accept), and its writes land in the file
//! that native programs map. `--expose` does the reverse for a region a native program made.

#[cfg(windows)]
mod adopt;
#[cfg(windows)]
mod attach;
mod cli;
#[cfg(windows)]
mod events;
#[cfg(not(windows))]
mod launch;
mod presets;
#[cfg(windows)]
mod readers;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use cli::{Command, USAGE};

fn main() -> ExitCode {
    let printed = match cli::parse(std::env::args_os().skip(1).collect::<Vec<OsString>>()) {
        Ok(Command::Help) => print(USAGE),
        Ok(Command::ListPresets) => print(&presets_text()),
        Ok(Command::Version) => print(concat!("wsm-bridge ", env!("CARGO_PKG_VERSION"))),
        Ok(Command::Bridge(plan)) => match bridge::run(&plan) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(message) => {
                say(&message);
                return ExitCode::FAILURE;
            }
        },
        Ok(Command::Launch(launch)) => match run_launch(&launch) {
            Ok(code) => return code,
            Err(message) => {
                say(&message);
                return ExitCode::FAILURE;
            }
        },
        Err(message) => {
            say(&format!("{message}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// `launch`: the native program's job.
#[cfg(not(windows))]
fn run_launch(launch: &cli::Launch) -> Result<ExitCode, String> {
    launch::run(launch)
}

#[cfg(windows)]
fn run_launch(_launch: &cli::Launch) -> Result<ExitCode, String> {
    Err("launch is the native Linux wsm-bridge's command (it starts this .exe with Wine)".into())
}

/// The object a section name stands for: `Local\x` and `x` are one section, and
/// `/dev/shm/x`.
fn object_name(name: &str) -> &str {
    name.strip_prefix("Local\\").unwrap_or(name)
}

/// Writes `wsm-bridge: MESSAGE` to standard error (a closed one is no reason to stop, nor to
/// panic as `eprintln!` would).
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "wsm-bridge: {message}");
}

/// Writes `text` and a newline to standard output; an error (a closed pipe) is returned, not
/// a panic as `println!` would make it.
fn print(text: &str) -> std::io::Result<()> {
    writeln!(std::io::stdout(), "{text}")
}

/// The presets, their regions (section size and the game's exact size) and the sources of
/// their sizes, for `--list-presets`.
fn presets_text() -> String {
    let mut text = String::new();
    for preset in presets::PRESETS {
        text += &format!("{}: {}\n", preset.titles.join(", "), preset.about);
        for region in preset.regions {
            let suffix = if preset.pid_suffix { "<PID>" } else { "" };
            let exact = match region.exact {
                Some(exact) => format!("struct {exact} bytes"),
                None => "no fixed size".to_owned(),
            };
            let written = match region.readers_write {
                true => "; native programs write it for the game",
                false => "",
            };
            text += &format!(
                "    {}{suffix}: section {} bytes ({exact}{written})\n",
                region.name, region.size
            );
        }
        for (name, reset) in preset.events {
            text += &format!("    event: {name} ({reset:?} reset), forwarded to native waiters\n");
        }
        text += &format!("    source: {}\n", preset.source);
    }
    text.trim_end().to_owned()
}

#[cfg(windows)]
mod bridge {
    //! The bridging itself: Windows under Wine only.

    use std::io::{Read, Write};

    use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};

    use crate::attach::Attached;
    use crate::cli::Plan;
    use crate::events::PrefixEvent;
    use crate::say;

    /// Makes and exposes every region of `plan` (attaching to the sections the game made
    /// already), says `ready`, and holds them until standard input closes (or forever, with
    /// `until_killed`). Regions made before an error are removed again: all or nothing.
    pub fn run(plan: &Plan) -> Result<(), String> {
        let host = Options::new().linux_host(true);
        let mut made = Vec::new();
        let mut held = Vec::new();
        let mut adopted = Vec::new();
        let mut attached = Vec::new();
        for (name, size) in &plan.create {
            let file_name = crate::object_name(name);
            if plan.when_free {
                wait_until_free(name);
            } else if let Some(game) = crate::attach::game_section(name)? {
                let (section, reader_file) = Attached::new(name, game, plan.versioning_of(name))?;
                let into = match reader_file {
                    Some(_) => "the /dev/shm file a native reader made (adopted)",
                    None => "/dev/shm",
                };
                say(&format!(
                    "{name}: {} bytes, the game's own section (it started first): copied to {into} {}",
                    section.len(),
                    section.protocol()
                ));
                if plan.readers_write(name) {
                    say(&format!(
                        "{name}: native programs write this section for the game, and a copy goes one way only: their writes will not reach the game (bridge before the game starts, or use --when-free)"
                    ));
                }
                adopted.extend(reader_file);
                attached.push((file_name, section));
                continue;
            }
            // A native reader that started first may have left an empty file under the name (or
            // kept the one an earlier bridge adopted).
            let not_adopted = match crate::adopt::adopt(Some(name), file_name, *size as u64) {
                Ok(Some(file)) => {
                    say(&format!(
                        "{name}: {size} bytes, backed by the /dev/shm file a native reader made (adopted; left in place at exit)"
                    ));
                    adopted.push(file);
                    continue;
                }
                Ok(None) => String::new(),
                Err(why) => format!(" (not adopted as a reader's file: {why})"),
            };
            let region = SharedMemory::<ReadWrite>::create_with(name, *size, &host)
                .map_err(|error| match error {
                    SharedMemoryError::NameTaken { .. } => format!(
                        "{name} is already bridged: its /dev/shm file exists (another wsm-bridge holds it, or a native program made it){not_adopted}; to give a native region to this prefix, use --expose {name}"
                    ),
                    other => format!("cannot bridge {name}: {other}{not_adopted}"),
                })?;
            say(&format!("{name}: {size} bytes, backed by /dev/shm"));
            made.push((file_name, region));
        }
        for name in &plan.expose {
            refuse_if_in_prefix(name)?;
            let region =
                SharedMemory::<ReadWrite>::open_existing_with(name, &host).map_err(|error| {
                    format!("cannot expose {name}: {error} (is the native program running?)")
                })?;
            say(&format!(
                "{name}: {} bytes, exposed from /dev/shm",
                region.len()
            ));
            held.push(region);
        }
        let to_native = make_events(&plan.events_to_native)?;
        let to_windows = make_events(&plan.events_to_windows)?;
        let (names, sections): (Vec<_>, Vec<_>) = attached.into_iter().unzip();
        let copier = crate::attach::Copier::start(sections);
        let mut stdout = std::io::stdout();
        writeln!(stdout, "ready")
            .and_then(|()| stdout.flush())
            .map_err(|error| format!("cannot write to standard output: {error}"))?;
        for event in to_native {
            std::thread::spawn(move || event.forward_to_native());
        }
        if plan.until_killed {
            loop {
                std::thread::park();
            }
        }
        if to_windows.is_empty() {
            // Holds until standard input ends or fails (its writer is gone either way).
            let mut buffer = [0; 256];
            while std::io::stdin()
                .read(&mut buffer)
                .is_ok_and(|read| read > 0)
            {}
        } else {
            forward_to_windows(&to_windows);
        }
        for (file_name, section) in names.into_iter().zip(copier.stop()) {
            say(&format!("{}: {} copies made", section.name, section.copies));
            // A reader's adopted file is left to `leave` below; a made one is as the others.
            match adopted.iter().any(|file| file.is(file_name)) {
                true => held.push(section.into_native()),
                false => made.push((file_name, section.into_native())),
            }
        }
        drop(held);
        leave(made, adopted);
        Ok(())
    }

    /// Lets go of the sections at the end. A file the bridge made is removed, unless a native
    /// program maps it without this crate's lock (a reader such as TinyPedal, which would be
    /// left with a file whose name is gone): that one is kept, for the next bridge to adopt.
    /// An adopted file stays the reader's, and one kept earlier goes once nobody maps it.
    fn leave(made: Vec<(&str, SharedMemory<ReadWrite>)>, adopted: Vec<crate::adopt::Adopted>) {
        for (file_name, region) in made {
            match crate::adopt::keep_if_read(file_name) {
                Ok(true) => say(&format!(
                    "a native program still maps /dev/shm/{file_name}: kept for it (the next wsm-bridge adopts it)"
                )),
                Ok(false) => {}
                Err(why) => say(&format!(
                    "/dev/shm/{file_name}: cannot check for native readers: {why}"
                )),
            }
            drop(region);
        }
        for file in adopted {
            if let Err(why) = file.leave() {
                say(&why);
            }
        }
    }

    /// Opens (or makes) each event of the prefix.
    fn make_events(
        events: &[(String, win_shared_memory::sync::EventReset)],
    ) -> Result<Vec<PrefixEvent>, String> {
        events
            .iter()
            .map(|(name, reset)| PrefixEvent::open_or_make(name, *reset))
            .collect()
    }

    /// Sets the prefix's event of each `set NAME` line of standard input, until it ends.
    fn forward_to_windows(events: &[PrefixEvent]) {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            let event = line
                .strip_prefix("set ")
                .and_then(|name| events.iter().find(|event| event.name() == name));
            let done = match event {
                Some(event) => event.signal(),
                None => Err(format!(
                    "ignored input {line:?}: not `set NAME` of an --event-to-windows"
                )),
            };
            if let Err(message) = done {
                say(&message);
            }
        }
    }

    /// Waits until no section of the prefix has the name: a game that started first holds it
    /// until it exits, and its next start then finds the bridge's section.
    fn wait_until_free(name: &str) {
        if !in_prefix(name) {
            return;
        }
        say(&format!(
            "{name} is the game's (it started first): bridging it once the game has exited, for its next start"
        ));
        while in_prefix(name) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Whether a section of the prefix has the name.
    fn in_prefix(name: &str) -> bool {
        SharedMemory::<ReadOnly>::open(name).is_ok()
    }

    /// Refuses to expose a name that a section of the prefix already has (the game's, or
    /// another bridge's): its programs would not find the native region under it.
    fn refuse_if_in_prefix(name: &str) -> Result<(), String> {
        if in_prefix(name) {
            return Err(format!(
                "{name} already exists in this Wine prefix (a program of the prefix made it, or another wsm-bridge bridges it)"
            ));
        }
        Ok(())
    }
}

#[cfg(not(windows))]
mod bridge {
    //! Natively there is nothing to bridge: regions already are `/dev/shm` files.

    use crate::cli::Plan;

    pub fn run(_plan: &Plan) -> Result<(), String> {
        Err("wsm-bridge is a Windows program: run wsm-bridge.exe with Wine (or Proton) in the game's prefix; native programs reach /dev/shm directly".into())
    }
}
