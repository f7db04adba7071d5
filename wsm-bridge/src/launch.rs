//! `wsm-bridge launch … -- COMMAND`: the native Linux side of a Steam launch option. It starts
//! `wsm-bridge.exe` in the game's prefix with the game's Wine, waits until the bridge is
//! ready, runs the game's command, and ends the bridge (closing its standard input, so it
//! removes what it made) when the game ends. It relays the bridge's events: each `set NAME`
//! line of the bridge sets win-shared-memory's `NamedEvent` of that name (a pulse for a
//! manual-reset one: every native waiter at that moment, and it is unset again), and each set
//! of a native event given with `--event-to-windows` (which the launcher waits on) becomes a
//! `set NAME` line to the bridge.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use win_shared_memory::sync::{EventReset, NamedEvent};

use crate::cli::{Launch, Plan};

/// How often a relay thread that waits on a native event looks whether the game has ended.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The Wine and prefix to run the bridge with.
#[derive(Debug, PartialEq, Eq)]
struct WineOf {
    /// The `wine` program.
    wine: PathBuf,
    /// The `WINEPREFIX`, when the game's command decides it (Proton's); else inherited.
    prefix: Option<PathBuf>,
}

/// Runs the launch; the game's exit code, or why nothing could be run.
pub fn run(launch: &Launch) -> Result<ExitCode, String> {
    let wine = wine_of(
        &launch.command,
        launch.wine.as_deref(),
        std::env::var_os("STEAM_COMPAT_DATA_PATH"),
    )?;
    let exe = match &launch.exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()
            .map_err(|error| format!("cannot find this program's folder: {error}"))?
            .with_file_name("wsm-bridge.exe"),
    };
    if !exe.is_file() {
        return Err(format!(
            "{} is missing (give its path with --exe)",
            exe.display()
        ));
    }
    let mut bridge = Command::new(&wine.wine);
    bridge
        .arg(&exe)
        .args(&launch.bridge_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(prefix) = &wine.prefix {
        bridge.env("WINEPREFIX", prefix);
    }
    let mut bridge = bridge
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", wine.wine.display()))?;
    let mut line = String::new();
    let mut stdout = BufReader::new(bridge.stdout.take().expect("the bridge's stdout is piped"));
    let read = stdout.read_line(&mut line);
    let stdin = Arc::new(Mutex::new(bridge.stdin.take()));
    if read.is_err() || line.trim() != "ready" {
        drop(stdin);
        let status = bridge.wait().map_err(|error| error.to_string())?;
        return Err(format!(
            "the bridge did not get ready ({status}); the game was not started"
        ));
    }
    let relay = Relay::start(&launch.plan, stdout, &stdin)?;
    crate::say("the bridge is ready; starting the game");
    let game = Command::new(&launch.command[0])
        .args(&launch.command[1..])
        .status();
    relay.stop();
    // Closing its input ends the bridge, which removes the sections it made.
    drop(stdin.lock().map(|mut input| input.take()));
    let bridge_status = bridge.wait();
    let game = game.map_err(|error| {
        format!(
            "cannot start {}: {error}",
            launch.command[0].to_string_lossy()
        )
    })?;
    match bridge_status {
        Ok(status) if status.success() => {}
        Ok(status) => crate::say(&format!("the bridge ended with {status}")),
        Err(error) => crate::say(&format!("waiting for the bridge: {error}")),
    }
    Ok(match game.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// The threads that relay events between the bridge and native programs.
struct Relay {
    stop: Arc<AtomicBool>,
    to_windows: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Opens (or makes) the native event of each of the plan's events and starts relaying.
    fn start(
        plan: &Plan,
        bridge_out: BufReader<ChildStdout>,
        bridge_in: &Arc<Mutex<Option<ChildStdin>>>,
    ) -> Result<Self, String> {
        let native = |(name, reset): &(String, EventReset)| {
            NamedEvent::new(name, *reset)
                .map(|event| (name.clone(), (event, *reset)))
                .map_err(|error| format!("cannot make the native event {name}: {error}"))
        };
        let to_native: HashMap<String, (NamedEvent, EventReset)> = plan
            .events_to_native
            .iter()
            .map(native)
            .collect::<Result<_, _>>()?;
        // Reads the bridge's lines until it ends (the thread ends with it, not joined).
        std::thread::spawn(move || {
            for line in bridge_out.lines() {
                let Ok(line) = line else { return };
                let target = line
                    .strip_prefix("set ")
                    .and_then(|name| to_native.get(name));
                let Some((event, reset)) = target else {
                    crate::say(&format!("the bridge said {line:?}"));
                    continue;
                };
                let set = event.set().and_then(|()| match reset {
                    EventReset::Manual => event.reset(),
                    EventReset::Auto => Ok(()),
                });
                if let Err(error) = set {
                    crate::say(&format!(
                        "cannot set the native event {}: {error}",
                        event.name()
                    ));
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut to_windows = Vec::new();
        for spec in &plan.events_to_windows {
            let (name, (event, reset)) = native(spec)?;
            let (stop, bridge_in) = (Arc::clone(&stop), Arc::clone(bridge_in));
            to_windows.push(std::thread::spawn(move || {
                forward_to_windows(&name, &event, reset, &stop, &bridge_in);
            }));
        }
        Ok(Self { stop, to_windows })
    }

    /// Stops the threads that wait on native events.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.to_windows {
            let _ = thread.join();
        }
    }
}

/// Waits on the native `event` and writes `set NAME` to the bridge at each set, until `stop`.
fn forward_to_windows(
    name: &str,
    event: &NamedEvent,
    reset: EventReset,
    stop: &AtomicBool,
    bridge_in: &Mutex<Option<ChildStdin>>,
) {
    while !stop.load(Ordering::Relaxed) {
        match event.wait_timeout(STOP_POLL) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                crate::say(&format!("waiting for the native event {name}: {error}"));
                return;
            }
        }
        let Ok(mut input) = bridge_in.lock() else {
            return;
        };
        let Some(input) = input.as_mut() else { return };
        if writeln!(input, "set {name}")
            .and_then(|()| input.flush())
            .is_err()
        {
            return;
        }
        // A manual-reset event stays set until someone resets it: forward it once.
        while reset == EventReset::Manual
            && !stop.load(Ordering::Relaxed)
            && event.wait_timeout(Duration::ZERO).unwrap_or(false)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The Wine of the game's command: a Proton in it (Steam's `%command%` holds
/// `…/proton waitforexitandrun game.exe`, maybe behind the Steam Linux Runtime's entry point)
/// has its Wine in `files/bin/wine` (older builds: `dist/bin/wine`) and its prefix in
/// `$STEAM_COMPAT_DATA_PATH/pfx`; else `wine_option` or `wine`, with the inherited prefix.
fn wine_of(
    command: &[OsString],
    wine_option: Option<&Path>,
    compat_data: Option<OsString>,
) -> Result<WineOf, String> {
    let proton = command
        .iter()
        .map(Path::new)
        .find(|word| word.file_name() == Some(OsStr::new("proton")));
    let Some(proton) = proton else {
        return Ok(WineOf {
            wine: wine_option.unwrap_or(Path::new("wine")).to_owned(),
            prefix: None,
        });
    };
    let dir = proton.parent().unwrap_or(Path::new("."));
    let wine = ["files", "dist"]
        .iter()
        .map(|build| dir.join(build).join("bin").join("wine"))
        .find(|wine| wine.is_file())
        .ok_or_else(|| {
            format!(
                "{} has neither files/bin/wine nor dist/bin/wine",
                dir.display()
            )
        })?;
    let compat_data = compat_data.ok_or(
        "STEAM_COMPAT_DATA_PATH is not set: Steam sets it for a Proton game's launch options",
    )?;
    Ok(WineOf {
        wine,
        prefix: Some(Path::new(&compat_data).join("pfx")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &[&str]) -> Vec<OsString> {
        text.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_proton_command_gives_its_wine_and_prefix() {
        let root = std::env::temp_dir().join(format!("wsm-launch-test-{}", std::process::id()));
        let bin = root.join("Proton 9.0").join("files").join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("wine"), "").unwrap();
        let proton = root.join("Proton 9.0").join("proton");
        let proton = proton.to_str().unwrap();
        for command in [
            words(&[proton, "waitforexitandrun", "game.exe"]),
            words(&[
                "/sniper/_v2-entry-point",
                "--verb=waitforexitandrun",
                "--",
                proton,
                "waitforexitandrun",
                "game.exe",
            ]),
        ] {
            let found = wine_of(&command, None, Some("/compat/123".into())).unwrap();
            assert_eq!(found.wine, bin.join("wine"));
            assert_eq!(found.prefix, Some(PathBuf::from("/compat/123/pfx")));
            let unset = wine_of(&command, None, None).unwrap_err();
            assert!(unset.contains("STEAM_COMPAT_DATA_PATH"), "{unset}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_plain_command_gives_the_wine_option_or_wine() {
        let command = words(&["wine", "game.exe"]);
        assert_eq!(
            wine_of(&command, None, None).unwrap(),
            WineOf {
                wine: "wine".into(),
                prefix: None
            }
        );
        let wine = wine_of(&command, Some(Path::new("/opt/wine/bin/wine")), None).unwrap();
        assert_eq!(wine.wine, PathBuf::from("/opt/wine/bin/wine"));
    }

    #[test]
    fn a_proton_without_wine_is_an_error() {
        let error =
            wine_of(&words(&["/nowhere/proton", "run"]), None, Some("/c".into())).unwrap_err();
        assert!(error.contains("files/bin/wine"), "{error}");
    }
}
