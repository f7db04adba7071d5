//! Native readers that map a `/dev/shm` file without this crate's lock (TinyPedal does), found
//! through `/proc`, which a Windows program under Wine reads as `Z:\proc` (`wineserver` opens
//! the files, as the same user).

/// Whether a native process maps `/dev/shm/<file_name>` while no native holder of this crate
/// has the file (`inode`): such a reader would be left with a file whose name is gone, where a
/// holder of this crate removes the file itself when it leaves.
///
/// Seen three times, 100 ms apart: a program that maps the file for a moment is no reader.
pub fn lockless_native_reader(file_name: &str, inode: u64) -> bool {
    let seen = || native_mapper(file_name) && !native_crate_holder(inode);
    seen()
        && (0..2).all(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            seen()
        })
}

/// Whether a process that is not Wine's maps the file.
fn native_mapper(file_name: &str) -> bool {
    let path = format!(" /dev/shm/{file_name}");
    let Ok(processes) = std::fs::read_dir("Z:\\proc") else {
        return false;
    };
    processes
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            name.to_str()
                .is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .any(
            |entry| match std::fs::read_to_string(entry.path().join("maps")) {
                Ok(maps) => !is_wines(&maps) && maps.lines().any(|line| line.ends_with(&path)),
                Err(_) => false,
            },
        )
}

/// Whether the maps are a Wine process's, at any stage: Wine's files (its preloader, loader,
/// `ntdll.so`) live in directories named `wine`.
fn is_wines(maps: &str) -> bool {
    maps.contains("/wine/") || maps.contains("/wine64") || maps.contains("/ntdll.so")
}

/// Whether a native holder of this crate has the file: each keeps an open file description
/// lock on its first byte, listed in `/proc/locks` (`OFDLCK`) with the file's inode.
fn native_crate_holder(inode: u64) -> bool {
    let inode = format!(":{inode} ");
    std::fs::read_to_string("Z:\\proc\\locks").is_ok_and(|locks| {
        locks
            .lines()
            .any(|line| line.contains("OFDLCK") && line.contains(&inode))
    })
}
