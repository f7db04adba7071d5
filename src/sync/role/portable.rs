//! The writer role without range locks on shared memory (macOS): an exclusive `flock` on a
//! lock file of the region's name in `/tmp` (as the macOS mutex's), which the kernel drops when
//! the role is dropped or its process dies.

use std::os::fd::OwnedFd;

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::sync::{Failure, companion};
use crate::{Access, Options, ReadWrite, SharedMemory};

/// The role, held: the lock file's description, locked until it closes.
pub(super) struct Held {
    _locked: OwnedFd,
}

/// The region's lock file.
fn path<A: Access>(region: &SharedMemory<A>) -> String {
    format!(
        "/tmp/wsm-writer{}",
        region.region_name().encoded().replace('/', "-")
    )
}

/// Takes the role; `None` when a live process holds it.
pub(super) fn take(region: &SharedMemory<ReadWrite>) -> Result<Option<Held>, Failure> {
    let fd = companion::open_lock_file(&path(region), &Options::new())
        .map_err(|error| Failure::Os("open", error.into()))?;
    check_is_ours(&fd)?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(Held { _locked: fd })),
        Err(Errno::WOULDBLOCK) => Ok(None),
        Err(error) => Err(Failure::Os("flock", error.into())),
    }
}

/// Whether a live process (this one included) holds the role: a shared lock of the file is
/// refused while someone holds the exclusive one.
pub(super) fn held_by_anyone<A: Access>(region: &SharedMemory<A>) -> Result<bool, Failure> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path(region), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        Err(error) => return Err(Failure::Os("open", error.into())),
    };
    check_is_ours(&fd)?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(error) => Err(Failure::Os("flock", error.into())),
    }
}

/// Refuses a lock file that is not a regular file of this process's user: another user's
/// would let them hold the role, or fake a live writer, for every writer of the region.
fn check_is_ours(fd: &OwnedFd) -> Result<(), Failure> {
    let stat = rustix::fs::fstat(fd).map_err(|error| Failure::Os("fstat", error.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Failure::Refused(
            "open",
            "the writer role's lock file in /tmp is not a regular file",
        ));
    }
    if stat.st_uid != rustix::process::geteuid().as_raw() {
        return Err(Failure::Refused(
            "open",
            "the writer role's lock file in /tmp belongs to another user",
        ));
    }
    Ok(())
}
