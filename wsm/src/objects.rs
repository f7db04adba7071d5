//! The shared memory objects of this machine (Linux): what `/dev/shm` holds, which of them
//! win-shared-memory made, and who holds them.
//!
//! The crate marks its objects with the sticky bit (only their owner can set it; see the
//! library's `sys/unix/linux.rs`), and every process that maps one holds an OFD read lock on
//! its byte 0 for as long as it does. So the holders are the OFD locks on that byte that the
//! kernel lists in `/proc/locks`, and `F_OFD_GETLK` (a write lock probed on byte 0) says
//! whether anyone holds it at all: a marked object that nobody holds is stale, and the next
//! use of its name (or `wsm rm`) removes it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

/// Where POSIX shared memory objects live.
pub const SHM_DIR: &str = "/dev/shm";

/// One object of `/dev/shm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its region name (the file name; `Local\name` names the same object).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its owner's user id.
    pub uid: u32,
    /// Its permission bits (with the sticky bit, the crate's mark).
    pub mode: u32,
    /// Whether win-shared-memory made it (the sticky bit).
    pub marked: bool,
    /// How many open file descriptions hold it (OFD read locks on byte 0), when known.
    pub holders: Option<usize>,
    /// Whether nobody holds it, when this process may look (`F_OFD_GETLK`).
    pub held: Option<bool>,
    /// The time of its last write, in seconds since 1970.
    pub modified: i64,
}

impl Object {
    /// A marked object that nobody holds: the next use of its name removes it.
    pub fn stale(&self) -> bool {
        self.marked && self.held == Some(false)
    }

    /// The owner's name, or the id when the password file does not name it.
    pub fn owner(&self) -> String {
        user_name(self.uid).unwrap_or_else(|| self.uid.to_string())
    }

    /// One line of JSON.
    pub fn json(&self) -> String {
        let optional = |value: Option<String>| value.unwrap_or_else(|| "null".to_owned());
        format!(
            "{{\"name\":{},\"size\":{},\"owner\":{},\"uid\":{},\"mode\":\"{:04o}\",\"crate\":{},\"holders\":{},\"held\":{},\"stale\":{},\"modified\":{}}}",
            crate::json_string(&self.name),
            self.size,
            crate::json_string(&self.owner()),
            self.uid,
            self.mode,
            self.marked,
            optional(self.holders.map(|count| count.to_string())),
            optional(self.held.map(|held| held.to_string())),
            self.stale(),
            self.modified,
        )
    }
}

/// The file of a region name: `Local\x` and `x` are `/dev/shm/x`.
pub fn path_of(name: &str) -> PathBuf {
    let object = crate::object_name(name);
    PathBuf::from(SHM_DIR).join(object)
}

/// The regular files of `/dev/shm` (only the crate's unless `all`), sorted by name.
pub fn list(all: bool) -> io::Result<Vec<Object>> {
    let locks = std::fs::read_to_string("/proc/locks").ok();
    let mut objects = Vec::new();
    let entries = std::fs::read_dir(SHM_DIR)
        .map_err(|error| io::Error::new(error.kind(), format!("reading {SHM_DIR}: {error}")))?;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !kind.is_file() {
            continue;
        }
        // Gone meanwhile: not listed.
        let Ok(object) = examine(&name, locks.as_deref()) else {
            continue;
        };
        if all || object.marked {
            objects.push(object);
        }
    }
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(objects)
}

/// The object under a region name, or why it cannot be looked at.
pub fn find(name: &str) -> Result<Object, String> {
    let locks = std::fs::read_to_string("/proc/locks").ok();
    let object = crate::object_name(name);
    if object.is_empty() || object.contains('/') {
        return Err(format!("`{name}` is not a region name"));
    }
    examine(object, locks.as_deref()).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => format!(
            "no region `{name}` ({} does not exist)",
            path_of(name).display()
        ),
        _ => format!(
            "looking at region `{name}` ({}): {error}",
            path_of(name).display()
        ),
    })
}

/// The object `/dev/shm/<file_name>`, without following a link.
fn examine(file_name: &str, locks: Option<&str>) -> io::Result<Object> {
    let path = PathBuf::from(SHM_DIR).join(file_name);
    let meta = std::fs::symlink_metadata(&path)?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file, so not a shared memory object",
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    Ok(Object {
        name: file_name.to_owned(),
        size: meta.len(),
        uid: meta.uid(),
        mode,
        marked: mode & libc::S_ISVTX != 0,
        holders: locks.map(|locks| holders_in(locks, meta.dev(), meta.ino())),
        held: held(&path),
        modified: meta.mtime(),
    })
}

/// Whether any open file description holds a read lock on byte 0 of the file (the probe of
/// a write lock there that the crate's own joiners make); `None` when it cannot be opened.
pub fn held(path: &std::path::Path) -> Option<bool> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    // SAFETY: a plain C struct; all-zero is a valid value of it.
    let mut probe: libc::flock = unsafe { std::mem::zeroed() };
    probe.l_type = libc::F_WRLCK as libc::c_short;
    probe.l_whence = libc::SEEK_SET as libc::c_short;
    probe.l_start = 0;
    probe.l_len = 1;
    // SAFETY: `file` is an open descriptor and `probe` a valid `flock` that the call fills.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut probe) };
    (result == 0).then_some(probe.l_type != libc::F_UNLCK as libc::c_short)
}

/// How many OFD locks `/proc/locks` lists on byte 0 of the file with this device and inode.
/// A line reads `1: OFDLCK ADVISORY READ -1 00:1a:1234 0 0` (major and minor in hex); lines
/// of waiters start with `->` and are not holders.
fn holders_in(locks: &str, device: u64, inode: u64) -> usize {
    let wanted = format!(
        "{:02x}:{:02x}:{inode}",
        libc::major(device),
        libc::minor(device)
    );
    locks
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() >= 8
                && fields[1] == "OFDLCK"
                && fields[5] == wanted
                && fields[6] == "0"
                && matches!(fields[7], "0" | "EOF")
        })
        .count()
}

/// The name of the user `uid` in `/etc/passwd`.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_the_ofd_locks_on_byte_zero_of_the_inode() {
        let device = libc::makedev(0, 0x1a);
        let locks = "\
1: OFDLCK ADVISORY  READ  -1 00:1a:77 0 0
2: OFDLCK ADVISORY  READ  -1 00:1a:77 0 0
2: -> OFDLCK ADVISORY  WRITE -1 00:1a:77 0 0
3: OFDLCK ADVISORY  READ  -1 00:1a:78 0 0
4: POSIX  ADVISORY  READ  123 00:1a:77 0 0
5: OFDLCK ADVISORY  READ  -1 00:1a:77 1 1
";
        assert_eq!(holders_in(locks, device, 77), 2);
        assert_eq!(holders_in(locks, device, 79), 0);
    }
}
