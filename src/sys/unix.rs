//! POSIX shared memory, made to live as a Windows section does: exactly as long as some process
//! holds it, crashed processes included (on Linux; see the portable backend below).
//!
//! # The holder-lock protocol (Linux)
//!
//! A region is the file `/dev/shm/<name>`. Every process that holds it keeps an open file
//! description (OFD) of it and a lock on its first byte, set with `fcntl` (`F_OFD_SETLK` /
//! `F_OFD_GETLK`, `l_whence = SEEK_SET`, `l_start = 0`, `l_len = 1`: byte 0 only; the other
//! bytes' locks are free for other uses, such as the `NamedMutex`'s slot locks on the bytes of
//! `<name>#mutex` from 1 up). OFD locks belong to the open file description, not to the
//! process: they end when its last descriptor closes, however the process ends, and a read lock
//! turns into a write lock atomically (the conversion fails with `EAGAIN` and keeps the read
//! lock when another description holds a lock; `flock`'s conversion drops the lock first). OFD
//! locks conflict with classic POSIX `fcntl` locks (`F_SETLK`), which wineserver sets for
//! `LockFileEx`, so a peer whose locks are POSIX ones (a Windows program under Wine holding
//! `Z:\dev\shm\<name>`, with `LockFileEx` at offset 0 for 1 byte) takes part with the same lock
//! types on byte 0. `flock` locks are a separate kind and mean nothing here.
//!
//! - **Holder**: a read lock (`F_RDLCK`), kept as long as the region is held. Only holders keep
//!   read locks: a process that is still checking an object never sets one (it asks with
//!   `F_OFD_GETLK`), so a dead object never looks held.
//! - **Remover**: a write lock (`F_WRLCK`), only ever tried without waiting and kept for a few
//!   system calls. The name of a marked object is removed only by a process that holds the
//!   object's write lock, after checking (`stat` of the path against its descriptor's
//!   `st_dev`/`st_ino`) that the name still names it.
//! - **Mark**: objects made this way have the sticky bit (`S_ISVTX`, meaningless for a regular
//!   file; 0.2's objects also have the set-group-ID bit) on top of their permission bits,
//!   and the mark that Windows programs under Wine (`Options::linux_host`) can set and read, as
//!   they cannot change a mode: the extended attribute `user.DOSATTRIB` = `0x6` (the DOS
//!   attributes HIDDEN | SYSTEM) with the access time of `crate::boundary`. Either mark
//!   makes an object the crate's; only the owner can set either. Unmarked objects are other
//!   programs': they are used as they are and never removed.
//! - **Create**: make the object unnamed (`open` of `/dev/shm` with `O_TMPFILE`, the mode and the
//!   mark; `fchmod` when the umask took bits, so the mode is exact), set the holder's read lock,
//!   allocate it (`fallocate`), then name it (`linkat`). Nobody sees it half-made or unheld.
//!   `EEXIST`: join the object that has the name (`create` then reports `AlreadyExists`).
//! - **Join** (open): `open("/dev/shm/<name>", O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_RDWR)`
//!   (`O_RDONLY` when the user may not write it), then `F_OFD_GETLK` for a write lock:
//!   - `F_RDLCK`, someone holds it: set the read lock (`EAGAIN`: start again), `fstat`; a
//!     regular file with `st_nlink > 0` is joined; `st_nlink == 0` means its last holder removed
//!     the name meanwhile: close and start again.
//!   - `F_WRLCK`, a remover is at work: close, wait a little and start again; after 2 s in all,
//!     fail with `TimedOut`, naming the region.
//!   - `F_UNLCK`, nobody holds it: unmarked, join it as it is; marked, it is stale: with a
//!     read-write descriptor set the write lock, check the name, unlink, close and start again
//!     (so `get_or_create` makes a fresh region). A process that may not remove it (another
//!     user's) fails with `NotFound`, naming the failed call and its errno.
//!   - Anything but a regular file (a FIFO, a device, a symbolic link) is refused.
//! - **Leave**: only in the process that opened the descriptor (a child after `fork` just closes
//!   its copy, which leaves the lock to the parent). If the process forked since it opened the
//!   descriptor, a child may share its description and lock: open the name again (a new
//!   description; none, or another object, means there is no name to remove), set its read
//!   lock and close the old descriptor (the child's copy keeps the old description's lock).
//!   A holder whose descriptor is read-only, which cannot take the write lock, instead lets
//!   its lock go when it finds no other holder, and examines the object as the sweep does.
//!   Then
//!   convert the read lock into a write lock without waiting. `EAGAIN`: others hold it (a
//!   forked child included); close. Success: this was the last holder; if marked and the name
//!   still names it, unlink; close. A holder that may not write the object (another user's
//!   reader) cannot take the write lock: if it is last, the name is removed by the next sweep
//!   or the next use of the name.
//! - **Owner without write permission**: an object whose mode denies its owner writing
//!   (`0o444`) is opened read-only; to remove it, its owner adds `u+w` for the two system calls
//!   of one `open(O_RDWR)` and puts the mode back.
//! - **Sweep**: once per process id (no `Once`, which a fork could leave held), at its first
//!   create or open, over the names of the user's index (`linux/sweep.rs`); `reclaim_stale()`
//!   over every entry of `/dev/shm`: every regular file that the effective user owns and that
//!   is marked is opened read-write; a write lock set without waiting means no holder: check
//!   the name, unlink.
//!
//! # The portable backend (macOS; Linux with `--cfg wsm_portable`)
//!
//! Without OFD locks on shared memory descriptors, the link that created a region unlinks its
//! name on drop (in the process that created it), and a crashed creator leaves its name behind
//! until some process unlinks it. Objects are unmarked, so the Linux backend never removes them.

use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use super::Disposition;

/// The error type of this platform's calls.
pub type OsError = io::Error;

/// The operations that error messages name: on Unix an open or a create takes several calls, so
/// the error inside (the message's source) names the one that failed and the object it was made
/// on.
#[cfg(wsm_holder_locks)]
pub(crate) const OPEN_CALL: &str = "opening the /dev/shm object";
#[cfg(wsm_holder_locks)]
pub(crate) const CREATE_CALL: &str = "creating the /dev/shm object";
#[cfg(all(unix, not(wsm_holder_locks)))]
pub(crate) const OPEN_CALL: &str = "shm_open";
#[cfg(all(unix, not(wsm_holder_locks)))]
pub(crate) const CREATE_CALL: &str = "shm_open(O_CREAT)";
pub(crate) const MAP_CALL: &str = "mmap";
pub(crate) const SIZE_CALL: &str = "fstat";

/// Regions are created readable and writable by their owner only.
const OWNER_ONLY: Mode = Mode::from_raw_mode(0o600);

/// What one `fstat` of an object told, kept so that nothing asks twice.
#[derive(Debug, Clone, Copy)]
struct Status {
    size: u64,
    owner: u32,
    #[cfg(wsm_holder_locks)]
    device: u64,
    #[cfg(wsm_holder_locks)]
    inode: u64,
    #[cfg(wsm_holder_locks)]
    mode: u32,
    #[cfg(wsm_holder_locks)]
    links: u64,
    #[cfg(wsm_holder_locks)]
    accessed: crate::boundary::FileTime,
}

impl Status {
    #[allow(
        clippy::unnecessary_cast,
        reason = "the field types differ between Unix systems"
    )]
    fn of(stat: &rustix::fs::Stat) -> Self {
        Self {
            // A size is never negative; the conversion only satisfies the type.
            size: u64::try_from(stat.st_size).unwrap_or(0),
            owner: stat.st_uid,
            #[cfg(wsm_holder_locks)]
            device: stat.st_dev as u64,
            #[cfg(wsm_holder_locks)]
            inode: stat.st_ino as u64,
            #[cfg(wsm_holder_locks)]
            mode: stat.st_mode as u32,
            #[cfg(wsm_holder_locks)]
            links: stat.st_nlink as u64,
            #[cfg(wsm_holder_locks)]
            accessed: crate::boundary::FileTime {
                seconds: stat.st_atime as i64,
                // Nanoseconds are below 10^9, which a u32 holds.
                nanoseconds: stat.st_atime_nsec as u32,
            },
        }
    }
}

/// A descriptor this process holds, with what it knows of the object.
#[derive(Debug)]
struct Held {
    fd: OwnedFd,
    status: Status,
    /// Whether the descriptor is open for writing, which a write lock needs.
    #[cfg(wsm_holder_locks)]
    writable: bool,
}

/// An open descriptor of a named region that this process holds.
#[derive(Debug)]
pub(crate) struct Section {
    held: Held,
    /// The POSIX name (`/name`).
    name: String,
    /// Whether this handle created the region: the portable backend's creator unlinks it.
    #[cfg_attr(
        wsm_holder_locks,
        allow(dead_code, reason = "Linux's last holder unlinks")
    )]
    created: bool,
    /// The process that opened the descriptor. A child made by `fork` shares the descriptor
    /// (and on Linux its lock), so only the opener may act on the region when it drops.
    opener: u32,
    /// The process's fork count when the descriptor was opened (see [`forks`]).
    #[cfg(wsm_holder_locks)]
    forks: u32,
}

/// Who may use a new region: its permission bits.
#[derive(Debug)]
pub(crate) struct CreateAccess(Mode);

impl CreateAccess {
    /// The chosen permission bits, owner-only by default.
    /// Unix has no security descriptors: only the mode counts.
    pub(crate) fn new(permissions: &super::Permissions<'_>) -> Result<Self, OsError> {
        // The options allow permission bits only (at most 0o777), which fit every mode_t.
        let chosen = |mode: u32| Mode::from_raw_mode(mode as rustix::fs::RawMode);
        Ok(Self(permissions.mode.map_or(OWNER_ONLY, chosen)))
    }
}

/// Why this OS cannot honour an option: only Linux has a Wine host to share regions with.
pub(crate) fn refusal(requested: &super::Requested) -> Option<&'static str> {
    (requested.linux_host && cfg!(not(target_os = "linux")))
        .then_some("linux_host shares a region with native Linux programs, and this is not Linux")
}

/// The error Unix reports for `kind` (not found, denied, or else exists), for tests.
#[cfg(test)]
pub(crate) fn error_of_kind(kind: io::ErrorKind) -> OsError {
    let errno = match kind {
        io::ErrorKind::NotFound => Errno::NOENT,
        io::ErrorKind::PermissionDenied => Errno::ACCESS,
        _ => Errno::EXIST,
    };
    io::Error::from_raw_os_error(errno.raw_os_error())
}

/// The kind of a Unix error, which `std::io::Error` decodes itself.
pub(crate) fn error_kind(error: &OsError) -> io::ErrorKind {
    error.kind()
}

impl Section {
    /// Creates a zero-filled region of `size` bytes, or opens (read-write) the live region that
    /// already has the name (the POSIX name: `/` and the rest). The host file of the Wine
    /// boundary is the object itself here.
    pub(crate) fn create_or_open(
        place: super::Place<'_>,
        size: u64,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        let name = place.name.as_str();
        let (held, disposition) = lifetime::create_or_open(name, size, access.0)?;
        let created = disposition == Disposition::Created;
        Ok((Self::new(held, name, created), disposition))
    }

    /// Opens the live region that has the name.
    pub(crate) fn open(place: super::Place<'_>, writable: bool) -> Result<Self, OsError> {
        let name = place.name.as_str();
        Ok(Self::new(lifetime::open(name, writable)?, name, false))
    }

    fn new(held: Held, name: &str, created: bool) -> Self {
        Self {
            held,
            name: name.to_owned(),
            created,
            opener: process_id(),
            #[cfg(wsm_holder_locks)]
            forks: forks(),
        }
    }

    /// The owner of the region, when it is not this process's user.
    pub(crate) fn foreign_owner(&self) -> Result<Option<u32>, OsError> {
        let owner = self.held.status.owner;
        Ok((owner != rustix::process::geteuid().as_raw()).then_some(owner))
    }

    /// The region's size in bytes, as it was when this process created or joined it.
    pub(crate) fn size(&self) -> Result<u64, OsError> {
        Ok(self.held.status.size)
    }

    /// Maps the first `len` bytes of the region; the mapping keeps the region open.
    pub(crate) fn map(self, len: usize, writable: bool) -> Result<Mapping, OsError> {
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh shared mapping at an address the kernel picks overlaps no Rust
        // object; `len` is non-zero and the caller checked it against the region's size.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                MapFlags::SHARED,
                &self.held.fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::from(Errno::FAULT))?;
        Ok(Mapping {
            ptr,
            len,
            _section: self,
        })
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // A copy inherited through `fork` only closes its descriptor: the region, its name and
        // the opener's lock stay the opener's.
        if process_id() == self.opener {
            lifetime::leave(self);
        }
    }
}

/// A mapped view of a region, and the descriptor that keeps it alive.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Released after the view is unmapped, as fields drop after `drop`.
    _section: Section,
}

impl Mapping {
    /// The first byte of the view.
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The descriptor of the region, for the file locks of a `NamedMutex`.
    #[cfg_attr(
        not(wsm_holder_locks),
        allow(dead_code, reason = "only Linux's mutex locks ranges")
    )]
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self._section.held.fd)
    }
}

impl Mapping {
    /// A second view, writable, of the page of this view's region that holds byte `offset`,
    /// for a view mapped read-only whose waiting readers must write one word: the region opened
    /// again through this process's own descriptor (`/proc/self/fd`, the same object whatever
    /// its name now is), which the kernel allows only when the region's permissions let this
    /// process write it (or it may override them: root). `None` where they do not, or without
    /// `/proc`; always `None` on the portable backend, whose processes share no futex to wake.
    pub(crate) fn writable_alias(&self, offset: usize) -> Option<Alias> {
        #[cfg(wsm_holder_locks)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: sysconf only reads a system value.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
            let start = offset / page * page;
            let len = page.min(self.len.checked_sub(start)?);
            let path = format!("/proc/self/fd/{}", self.as_fd().as_raw_fd());
            let fd = rustix::fs::open(
                path,
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            // SAFETY: a fresh shared mapping at an address the kernel picks overlaps no Rust
            // object; `start` is page-aligned and `start + len` lies within this view, which
            // was checked against the region's size when it was made.
            let ptr = unsafe {
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    &fd,
                    start as u64,
                )
            }
            .ok()?;
            Some(Alias {
                ptr: NonNull::new(ptr.cast())?,
                len,
                start,
            })
        }
        #[cfg(not(wsm_holder_locks))]
        {
            let _ = offset;
            None
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what `mmap` returned and took, and the view is
        // unmapped only here, once; the borrows handed out of it end before the view drops.
        // Failure is impossible for a valid mapping and nothing could be done about it in drop.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A writable second view of one page of a region mapped read-only
/// ([`Mapping::writable_alias`]); it keeps nothing else of the region, which its first view
/// keeps alive.
#[derive(Debug)]
pub(crate) struct Alias {
    ptr: NonNull<u8>,
    len: usize,
    /// Where the page starts in the region.
    start: usize,
}

impl Alias {
    /// The first byte of the view.
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The bytes of the region it maps.
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

impl Drop for Alias {
    fn drop(&mut self) {
        // SAFETY: as for `Mapping`: exactly what `mmap` returned, unmapped only here, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// This process's id, kept by the fork watch so that no create, open or drop asks the kernel
/// (a child made without its handlers, by `_Fork` or a raw `clone`, is not supported).
#[cfg(wsm_holder_locks)]
use fork_watch::process_id;

/// This process's id.
#[cfg(not(wsm_holder_locks))]
fn process_id() -> u32 {
    std::process::id()
}

/// The forks this process has made, which say whether a child may share a descriptor.
#[cfg(wsm_holder_locks)]
use fork_watch::forks;

/// The crate's one fork watch (`pthread_atfork`), read by the regions and the mutex.
#[cfg(wsm_holder_locks)]
pub(crate) mod fork_watch;

/// The crate's one wrapper of open-file-description locks.
#[cfg(wsm_holder_locks)]
pub(crate) mod ofd_lock;

/// Runs `call` again for as long as a signal interrupts it (`EINTR`): the one policy of this
/// platform's calls, so that a process with periodic signals (profilers, timers) never sees a
/// create or a lock fail at random.
#[cfg_attr(
    not(wsm_holder_locks),
    allow(
        dead_code,
        reason = "the calls that can be interrupted are the holder locks'"
    )
)]
pub(crate) fn restart_on_interrupt<T>(
    mut call: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    loop {
        match call() {
            Err(Errno::INTR) => {}
            done => return done,
        }
    }
}

/// Removes the names of this user's regions that no process holds, left by processes that
/// exited without dropping their links; returns how many were removed.
pub(crate) fn reclaim_stale() -> io::Result<usize> {
    lifetime::reclaim_stale()
}

/// A call that failed on an object: the error names the call and the object, and its source
/// is the OS error.
#[derive(Debug)]
struct CallFailed {
    call: &'static str,
    object: String,
    cause: io::Error,
    /// What the failure means for the region, if the OS error alone does not say.
    meaning: String,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on `{}` failed", self.call, self.object)?;
        if !self.meaning.is_empty() {
            write!(f, " ({})", self.meaning)?;
        }
        Ok(())
    }
}

impl std::error::Error for CallFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// The error for `call` failing with `errno` on `object`, of the errno's kind.
fn failed(call: &'static str, object: &str, errno: Errno) -> io::Error {
    let kind = io::Error::from(errno).kind();
    call_failed(kind, call, object, errno, String::new())
}

/// The error of `kind` for `call` failing with `errno` on `object`, which `meaning` explains.
fn call_failed(
    kind: io::ErrorKind,
    call: &'static str,
    object: &str,
    errno: Errno,
    meaning: String,
) -> io::Error {
    io::Error::new(
        kind,
        CallFailed {
            call,
            object: object.to_owned(),
            cause: io::Error::from(errno),
            meaning,
        },
    )
}

/// The error for opening the object under `name` (`call`) failing with `errno`, saying what
/// it means where the errno's text alone would mislead.
fn open_failed(call: &'static str, name: &str, errno: Errno) -> io::Error {
    let meaning = match errno {
        Errno::LOOP => "a symbolic link has the name; regions never follow one",
        Errno::NOENT => "no region has the name",
        _ => "",
    };
    let kind = io::Error::from(errno).kind();
    call_failed(kind, call, &object_path(name), errno, meaning.to_owned())
}

/// The file that a name's object is (Linux) or the name itself (elsewhere), for messages.
fn object_path(name: &str) -> String {
    if cfg!(target_os = "linux") {
        format!("/dev/shm{name}")
    } else {
        name.to_owned()
    }
}

/// Opens the object under `name` without following a symbolic link and without blocking on a
/// FIFO, read-write or read-only; says whether the descriptor is writable.
fn open_object(name: &str, read_write: bool) -> Result<(OwnedFd, bool), Errno> {
    let access = if read_write {
        rustix::fs::OFlags::RDWR
    } else {
        rustix::fs::OFlags::RDONLY
    };
    open_flags(name, access).map(|fd| (fd, read_write))
}

/// `open` of the object under `name` with `access`, never following a symbolic link nor
/// blocking on a FIFO.
#[cfg(target_os = "linux")]
fn open_flags(name: &str, access: rustix::fs::OFlags) -> Result<OwnedFd, Errno> {
    use rustix::fs::OFlags;
    // rustix's shm::open adds neither O_NOFOLLOW nor O_NONBLOCK; glibc's shm_open is the same
    // open of the same path, with O_NOFOLLOW.
    let flags = access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    rustix::fs::open(object_path(name).as_str(), flags, Mode::empty())
}

/// `shm_open` of `name` with `access` (shared memory objects are never links or FIFOs here).
#[cfg(not(target_os = "linux"))]
fn open_flags(name: &str, access: rustix::fs::OFlags) -> Result<OwnedFd, Errno> {
    let access = rustix::shm::OFlags::from_bits_truncate(access.bits());
    rustix::shm::open(name, access, Mode::empty())
}

/// The status of an open object, refusing anything but a regular file (Linux: a FIFO or a
/// device planted under the name).
fn regular_status(fd: &OwnedFd, name: &str) -> io::Result<Status> {
    let stat = rustix::fs::fstat(fd).map_err(|errno| failed("fstat", &object_path(name), errno))?;
    let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    if cfg!(target_os = "linux") && kind != rustix::fs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is not a regular file but a {kind:?}: not a shared memory region",
                object_path(name)
            ),
        ));
    }
    Ok(Status::of(&stat))
}

/// The holder-lock lifetime (Linux).
#[cfg(wsm_holder_locks)]
mod linux;
#[cfg(wsm_holder_locks)]
use linux as lifetime;

/// The creator-unlinks lifetime (macOS; Linux with `--cfg wsm_portable`).
#[cfg(all(unix, not(wsm_holder_locks)))]
mod portable;
#[cfg(all(unix, not(wsm_holder_locks)))]
use portable as lifetime;

#[cfg(test)]
mod tests {
    use super::*;

    /// Only Linux has a Wine host to share regions with; the owner check is Unix's everywhere.
    #[test]
    fn only_linux_shares_regions_with_wine() {
        let asked = |owner_check, linux_host| {
            refusal(&super::super::Requested {
                owner_check,
                linux_host,
            })
        };
        assert_eq!(asked(true, false), None);
        assert_eq!(asked(false, true).is_none(), cfg!(target_os = "linux"));
    }
}
