//! The writer role on Linux: an open-file-description write lock on byte 1 of the region's own
//! object (byte 0 holds the holders' locks), taken through a description of the role's own, so
//! that the kernel drops it when the role is dropped or its process dies, however it dies.

use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use crate::sync::Failure;
use crate::sys::ofd_lock::{self, GETLK, Lock, SETLK};
use crate::{Access, ReadWrite, SharedMemory};

/// The byte whose write lock is the role, the one a Windows writer under Wine locks too.
const ROLE_BYTE: u32 = crate::boundary::WRITER_ROLE_BYTE;

/// The role, held: the description that holds the lock, and the process that took it.
pub(super) struct Held {
    fd: OwnedFd,
    taker: rustix::process::Pid,
}

/// A new description of `region`'s object (the same object whatever its name now is), opened
/// with `flags`.
fn reopen<A: Access>(region: &SharedMemory<A>, flags: OFlags) -> Result<OwnedFd, Failure> {
    let path = format!("/proc/self/fd/{}", region.mapping().as_fd().as_raw_fd());
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|error| Failure::Os("open(/proc/self/fd)", error.into()))
}

/// Takes the role; `None` when a live process holds it.
pub(super) fn take(region: &SharedMemory<ReadWrite>) -> Result<Option<Held>, Failure> {
    let fd = reopen(region, OFlags::RDWR)?;
    match ofd_lock::try_lock(&fd, Lock::Write, ROLE_BYTE) {
        Ok(()) => Ok(Some(Held {
            fd,
            taker: rustix::process::getpid(),
        })),
        Err(error) if ofd_lock::is_conflict(error) => Ok(None),
        Err(error) => Err(Failure::Os(SETLK, error.into())),
    }
}

/// Whether a live process (this one included) holds the role. Asked through the region's own
/// description, which never holds the role (a role has a description of its own), so every
/// holder shows; no open per question, since followers ask every few milliseconds.
pub(super) fn held_by_anyone<A: Access>(region: &SharedMemory<A>) -> Result<bool, Failure> {
    ofd_lock::conflicting(region.mapping().as_fd(), Lock::Read, ROLE_BYTE)
        .map(|holder| holder.is_some())
        .map_err(|error| Failure::Os(GETLK, error.into()))
}

impl Drop for Held {
    fn drop(&mut self) {
        // Closing the description lets the lock go too (unless a forked child shares it); the
        // unlock says so at once. A forked child's copy only closes: the lock is the
        // description's, and its unlock would end the parent's role.
        if rustix::process::getpid() == self.taker {
            let _ = ofd_lock::unlock(&self.fd, ROLE_BYTE);
        }
    }
}
