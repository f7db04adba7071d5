//! `wsm-bridge launch … -- COMMAND`: the native Linux side of a Steam launch option. It starts
//! `wsm-bridge.exe` in the game's prefix with the game's Wine, waits until the bridge is
//! ready, runs the game's command, and ends the bridge (closing its standard input, so it
//! removes what it made) when the game ends.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::cli::Launch;

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
    let stdout = bridge.stdout.take().expect("the bridge's stdout is piped");
    let read = BufReader::new(stdout).read_line(&mut line);
    if read.is_err() || line.trim() != "ready" {
        drop(bridge.stdin.take());
        let status = bridge.wait().map_err(|error| error.to_string())?;
        return Err(format!(
            "the bridge did not get ready ({status}); the game was not started"
        ));
    }
    eprintln!("wsm-bridge: the bridge is ready; starting the game");
    let game = Command::new(&launch.command[0])
        .args(&launch.command[1..])
        .status();
    // Closing its input ends the bridge, which removes the sections it made.
    drop(bridge.stdin.take());
    let bridge_status = bridge.wait();
    let game = game.map_err(|error| {
        format!(
            "cannot start {}: {error}",
            launch.command[0].to_string_lossy()
        )
    })?;
    match bridge_status {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("wsm-bridge: the bridge ended with {status}"),
        Err(error) => eprintln!("wsm-bridge: waiting for the bridge: {error}"),
    }
    Ok(match game.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
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
