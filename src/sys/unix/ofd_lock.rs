//! Open-file-description locks on single bytes (`F_OFD_SETLK`, `F_OFD_GETLK`): the holder
//! locks of regions (byte 0), the slot locks of a `NamedMutex` and of an auto-reset
//! `NamedEvent`'s waiters (their companion's bytes from 1 up). One wrapper, so that every lock call has the same `EINTR` policy: resumed.
//!
//! OFD locks belong to the open file description, not to the process: they end when its last
//! descriptor closes, however the process ends, and a lock of one kind turns into the other
//! atomically. They conflict with classic POSIX `fcntl` locks, which wineserver sets for
//! `LockFileEx`, so Windows programs under Wine take part with the same lock types.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::io::Errno;

use super::restart_on_interrupt;

/// The calls named in errors.
pub(crate) const SETLK: &str = "fcntl(F_OFD_SETLK)";
pub(crate) const GETLK: &str = "fcntl(F_OFD_GETLK)";

/// A new open file description of `fd`'s file, opened again read-write through this process's
/// own descriptor (`/proc/self/fd`): its locks conflict with every other description's, this
/// process's included, and a description of its own is never shared with a child forked before
/// it was made.
pub(crate) fn new_description(fd: impl AsFd) -> Result<OwnedFd, Errno> {
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    restart_on_interrupt(|| {
        rustix::fs::open(
            &path,
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
    })
}

/// A kind of lock on a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Shared (`F_RDLCK`): any number of descriptions hold it at once.
    Read,
    /// Exclusive (`F_WRLCK`); the descriptor must be open for writing.
    Write,
}

impl Lock {
    fn raw(self) -> libc::c_short {
        // The lock types are small constants that every `c_short` holds.
        (match self {
            Self::Read => libc::F_RDLCK,
            Self::Write => libc::F_WRLCK,
        }) as libc::c_short
    }
}

/// Sets (or converts to) `lock` on byte `byte` of `fd`'s description, without waiting:
/// `EAGAIN` (or `EACCES`, which POSIX allows) when another description holds a conflicting
/// lock.
pub(crate) fn try_lock(fd: impl AsFd, lock: Lock, byte: u32) -> Result<(), Errno> {
    let mut request = request(lock.raw(), byte);
    fcntl(fd, libc::F_OFD_SETLK, &mut request)
}

/// Lets go of this description's lock on byte `byte` (a forked child's copy shares it).
pub(crate) fn unlock(fd: impl AsFd, byte: u32) -> Result<(), Errno> {
    let mut request = request(libc::F_UNLCK as libc::c_short, byte);
    fcntl(fd, libc::F_OFD_SETLK, &mut request)
}

/// The kind of lock that other descriptions hold on byte `byte` and that would conflict with
/// `lock` (a read lock conflicts only with a write lock); `None` when nothing would.
pub(crate) fn conflicting(fd: impl AsFd, lock: Lock, byte: u32) -> Result<Option<Lock>, Errno> {
    let mut request = request(lock.raw(), byte);
    fcntl(fd, libc::F_OFD_GETLK, &mut request)?;
    Ok(match i32::from(request.l_type) {
        libc::F_UNLCK => None,
        libc::F_RDLCK => Some(Lock::Read),
        _ => Some(Lock::Write),
    })
}

/// Whether a failed [`try_lock`] means another description holds the byte.
pub(crate) fn is_conflict(errno: Errno) -> bool {
    matches!(errno, Errno::AGAIN | Errno::ACCESS)
}

/// A lock request of `kind` on the one byte at `byte`.
fn request(kind: libc::c_short, byte: u32) -> libc::flock {
    // SAFETY: `flock` is plain integers, for which all zeroes is a valid value (and `l_pid`
    // must be 0 for an OFD lock request).
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = kind;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    // Byte numbers are below 2^30 (0, or a mutex slot), which every off_t holds.
    request.l_start = byte as libc::off_t;
    request.l_len = 1;
    request
}

/// `fcntl(fd, command, request)`, resumed when a signal interrupts it.
fn fcntl(fd: impl AsFd, command: libc::c_int, request: &mut libc::flock) -> Result<(), Errno> {
    let fd = fd.as_fd();
    restart_on_interrupt(|| {
        // SAFETY: `fd` is open for the call (borrowed), and `request` is a valid, writable
        // `flock`, which is what the OFD lock commands read and (F_OFD_GETLK) write.
        if unsafe { libc::fcntl(fd.as_raw_fd(), command, std::ptr::from_mut(request)) } == -1 {
            return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
        }
        Ok(())
    })
}
