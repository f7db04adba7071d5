//! Finding this user's stale regions: the once-per-process sweep, its index, and the full
//! scan of `reclaim_stale()`.
//!
//! `/dev/shm` is shared by every program of every user and may hold hundreds of thousands of
//! entries; examining each costs microseconds. So every region the crate creates is also
//! listed, by name, in an index of this user's: the directory
//! `/dev/shm/.win-shared-memory-<uid>` (mode `0o700`, owned by the user, so no other user can
//! add to it or take from it), one empty file per name. A process's first create or open
//! examines only the names listed there; `reclaim_stale()` examines every entry of `/dev/shm`,
//! and so also finds what no index lists (regions of older versions of the crate, regions
//! Windows programs made under Wine, a name whose listing a race lost).
//!
//! The index is only a hint: each object it names is examined exactly as the full scan
//! examines it (this user's, marked, nobody holding it, the name still naming it) before its
//! name is removed, so a stale or forged listing can make the sweep look, never remove. A
//! listing goes when its object's name goes; since a create of the same name may run
//! meanwhile, whoever unlists a name lists it again if the name names an object by then, and
//! a create lists its name right after it names the object (a process killed between the
//! two leaves it unlisted, for the next use of the name or `reclaim_stale()`). An index that
//! another user owns (made first, to squat the name), or that is not a private directory, is
//! not used: there is then no automatic sweep, rather than a scan of all of `/dev/shm` at
//! every process's start, which is what a squatter would want.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{HOLDER_BYTE, Lock, SHM_DIR, marked, ofd_lock, path, unlink_if_named};
use super::{Writable, writable_as_owner};
use crate::sys::unix::{fork_watch, open_object, regular_status};

/// The process that swept last: a child forked while its parent was sweeping finds its
/// parent's id here and sweeps for itself, as nothing here is a lock a fork could leave held.
static SWEPT_BY: AtomicU32 = AtomicU32::new(0);

/// The user whose index this process checked and may list names in; `u32::MAX` for none.
static INDEX_CHECKED_FOR: AtomicU32 = AtomicU32::new(u32::MAX);
/// The user whose index this process found another user's: not checked again at each create.
static INDEX_REFUSED_FOR: AtomicU32 = AtomicU32::new(u32::MAX);

/// What examining one name found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Examined {
    /// The name named this user's stale region, and is removed.
    Removed,
    /// Nothing has the name.
    Absent,
    /// The name names something the sweep leaves: held, another program's or user's.
    Kept,
}

/// Sweeps this user's stale regions, once per process (each forked child once more), through
/// the index; not at all when the index cannot be used.
pub(super) fn once() {
    let me = fork_watch::process_id();
    let last = SWEPT_BY.load(Ordering::Relaxed);
    if last == me
        || SWEPT_BY
            .compare_exchange(last, me, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // A failed sweep costs only memory, which a later sweep may reclaim. Without a usable
    // index (another user made its name first) there is no automatic sweep: examining every
    // entry of /dev/shm at every process's start is what a squatter would want. The next use
    // of a name and `reclaim_stale()` still remove stale regions.
    if let Some(index) = index() {
        let _ = sweep_index(&index);
    }
}

/// Removes the names of this user's marked objects that no process holds, examining every
/// entry of `/dev/shm`.
pub(in crate::sys::unix) fn reclaim_stale() -> io::Result<usize> {
    let entries = std::fs::read_dir(SHM_DIR)
        .map_err(|error| io::Error::new(error.kind(), format!("reading `{SHM_DIR}`: {error}")))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        // The directory entry's type, which comes with the listing: most are skipped here.
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        if let Some(file_name) = entry.file_name().to_str() {
            if examine(&format!("/{file_name}")) == Examined::Removed {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Lists `name` in this user's index, checking the index first if no sweep of this process
/// did yet (another thread's may be under way).
pub(super) fn remember(name: &str) {
    let me = rustix::process::geteuid().as_raw();
    if INDEX_REFUSED_FOR.load(Ordering::Relaxed) == me {
        return;
    }
    let Some(index) = checked_index(me).or_else(index) else {
        return;
    };
    let listing = format!("{index}{name}");
    // One system call that opens nothing (and follows no link); an existing listing is
    // left as it is. The directory is the user's own, and a listing is only a hint.
    let _ = rustix::fs::mknodat(
        rustix::fs::CWD,
        listing.as_str(),
        rustix::fs::FileType::RegularFile,
        Mode::RUSR,
        0,
    );
}

/// Unlists `name`, whose object's name was removed; lists it again if a create named a new
/// object meanwhile.
pub(super) fn forget(name: &str) {
    let Some(index) = checked_index(rustix::process::geteuid().as_raw()) else {
        return;
    };
    let _ = rustix::fs::unlink(format!("{index}{name}").as_str());
    if rustix::fs::lstat(path(name).as_str()).is_ok() {
        remember(name);
    }
}

/// Examines the names the index lists; unlists those that name nothing.
fn sweep_index(index: &str) -> io::Result<()> {
    for entry in std::fs::read_dir(index)?.flatten() {
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let name = format!("/{file_name}");
        if examine(&name) == Examined::Absent {
            forget(&name);
        }
    }
    Ok(())
}

/// Removes the name of this user's marked object under `name` if no process holds it.
pub(super) fn examine(name: &str) -> Examined {
    let me = rustix::process::geteuid().as_raw();
    // An lstat first: it does not follow a link, and most objects are not ours.
    let meta = match rustix::fs::lstat(path(name).as_str()) {
        Ok(meta) => meta,
        Err(Errno::NOENT) => return Examined::Absent,
        Err(_) => return Examined::Kept,
    };
    let kind = rustix::fs::FileType::from_raw_mode(meta.st_mode);
    if kind != rustix::fs::FileType::RegularFile || meta.st_uid != me {
        return Examined::Kept;
    }
    let (fd, writable) = match open_object(name, true) {
        Err(Errno::ACCESS) => match open_object(name, false) {
            Ok(opened) => opened,
            Err(_) => return Examined::Kept,
        },
        Ok(opened) => opened,
        Err(Errno::NOENT) => return Examined::Absent,
        Err(_) => return Examined::Kept,
    };
    let Ok(status) = regular_status(&fd, name) else {
        return Examined::Kept;
    };
    if status.owner != me || status.links == 0 || !marked(&fd, &status) {
        return Examined::Kept;
    }
    let remover = if writable {
        fd
    } else {
        // Its mode denies the owner writing (0o444): the owner gives itself write access, for
        // an object that nobody holds only.
        if !matches!(
            ofd_lock::conflicting(&fd, Lock::Write, HOLDER_BYTE),
            Ok(None)
        ) {
            return Examined::Kept;
        }
        match writable_as_owner(&fd, &status, name) {
            Writable::Opened(remover) => remover,
            Writable::Changed | Writable::Denied(_) => return Examined::Kept,
        }
    };
    // Live regions (the usual case) end here, at the write lock they hold off.
    if ofd_lock::try_lock(&remover, Lock::Write, HOLDER_BYTE).is_err() {
        return Examined::Kept;
    }
    match unlink_if_named(&status, name) {
        Ok(true) => Examined::Removed,
        _ => Examined::Kept,
    }
}

/// The index directory if it is this user's private directory, made
/// first if missing; checked once per process and user, and remembered for `remember`.
fn index() -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    let index = index_path(me);
    match rustix::fs::mkdir(index.as_str(), Mode::RWXU) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(_) => return None,
    }
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(index.as_str(), flags, Mode::empty()).ok()?;
    let stat = rustix::fs::fstat(&dir).ok()?;
    if stat.st_uid != me {
        INDEX_REFUSED_FOR.store(me, Ordering::Relaxed);
        return None;
    }
    // A strict umask (0o277) made it unwritable, or someone widened it: private, writable.
    if stat.st_mode & 0o7777 != Mode::RWXU.bits() {
        rustix::fs::fchmod(&dir, Mode::RWXU).ok()?;
    }
    INDEX_CHECKED_FOR.store(me, Ordering::Relaxed);
    Some(index)
}

/// The index directory, if this process checked it for the user `me`, its current one.
fn checked_index(me: u32) -> Option<String> {
    (INDEX_CHECKED_FOR.load(Ordering::Relaxed) == me).then(|| index_path(me))
}

/// The index directory of the user `uid`; a name (`/x`) appended is its listing.
fn index_path(uid: u32) -> String {
    format!("{SHM_DIR}/.win-shared-memory-{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index is a private directory of the user's, and a created region is listed in it
    /// until its last holder lets it go.
    #[test]
    fn a_created_region_is_listed_until_it_goes() {
        use crate::{ReadWrite, SharedMemory};
        let name = format!("wsm_index_unit_{}", std::process::id());
        let region = SharedMemory::<ReadWrite>::create(&name, 64).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let index = checked_index(me).expect("the index of this user");
        let listing = format!("{index}/{name}");
        let dir = rustix::fs::stat(index.as_str()).unwrap();
        assert_eq!(dir.st_mode & 0o7777, 0o700);
        assert!(rustix::fs::lstat(listing.as_str()).is_ok(), "{listing}");
        drop(region);
        assert_eq!(
            rustix::fs::lstat(listing.as_str()).err(),
            Some(Errno::NOENT)
        );
    }
}
