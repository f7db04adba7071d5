//! POSIX shared memory (`shm_open` + `mmap`), made to live as a Windows section does: exactly as
//! long as some process holds it, crashed processes included.
//!
//! On Linux every holder keeps a shared `flock` on its descriptor; the kernel drops it when the
//! process exits, however it exits. The holder that can turn its lock exclusive is the last one
//! and unlinks the name. A name whose object nobody holds was left by a crashed process: it is
//! stale, and the next `create` or `open` of that name removes it. A new object is made unnamed
//! (`O_TMPFILE`), marked, locked and allocated first, and only then linked under its name, so no
//! opener ever sees it half-made. Objects that other programs made carry no mark: they are used
//! as they are and never removed.
//!
//! Other Unix systems (macOS) do not support `flock` on shared memory descriptors: there the
//! link that created a region unlinks its name on drop, and a crashed creator leaves its name
//! behind until some process unlinks it.

use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;

use super::Disposition;

/// The error type of this platform's calls.
pub type OsError = io::Error;

/// The calls that error messages name, one for each failing operation.
pub(crate) const OPEN_CALL: &str = "shm_open";
pub(crate) const CREATE_CALL: &str = "shm_open(O_CREAT)";
pub(crate) const MAP_CALL: &str = "mmap";
pub(crate) const SIZE_CALL: &str = "fstat";

/// How often a create or open starts again after the object under the name vanished or was
/// stale, before giving up. Each round means another process removed the name in between.
const MAX_ATTEMPTS: usize = 64;

/// Regions are created readable and writable by their owner only.
const OWNER_ONLY: Mode = Mode::from_raw_mode(0o600);

/// An open descriptor of a named region that this process holds.
#[derive(Debug)]
pub(crate) struct Section {
    fd: OwnedFd,
    name: String,
    /// Whether this handle created the region: on systems without `flock` on shared memory,
    /// the creator is the one that unlinks it.
    created: bool,
}

/// Who may use a new region: its permission bits.
#[derive(Debug)]
pub(crate) struct CreateAccess(Mode);

impl CreateAccess {
    /// The chosen permission bits, owner-only by default.
    pub(crate) fn new(mode: Option<u32>) -> Result<Self, OsError> {
        // The options allow permission bits only (at most 0o777), which fit every mode_t.
        let chosen = |mode: u32| Mode::from_raw_mode(mode as rustix::fs::RawMode);
        Ok(Self(mode.map_or(OWNER_ONLY, chosen)))
    }
}

impl Section {
    /// Creates a zero-filled region of `size` bytes, or opens (read-write) the live region that
    /// already has the name (the POSIX name: `/` and the rest).
    pub(crate) fn create_or_open(
        name: &str,
        size: u64,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(fd) = lifetime::create_new(name, size, access.0)? {
                return Ok((Self::held(fd, name, true), Disposition::Created));
            }
            match Self::open_once(name, true) {
                Ok(Some(section)) => return Ok((section, Disposition::Existing)),
                Ok(None) => continue,
                Err(error) if error.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(vanishing(name))
    }

    /// Opens the live region that has the name.
    pub(crate) fn open(name: &str, writable: bool) -> Result<Self, OsError> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(section) = Self::open_once(name, writable)? {
                return Ok(section);
            }
        }
        Err(vanishing(name))
    }

    /// One attempt to open and join the object under `name`; `None` when it vanished meanwhile
    /// and the caller should look again.
    fn open_once(name: &str, writable: bool) -> Result<Option<Self>, OsError> {
        let flags = if writable {
            shm::OFlags::RDWR
        } else {
            shm::OFlags::RDONLY
        };
        let fd = shm::open(name, flags, Mode::empty())?;
        match lifetime::join(&fd, name)? {
            lifetime::Join::Joined => Ok(Some(Self::held(fd, name, false))),
            lifetime::Join::Vanished => Ok(None),
            lifetime::Join::Stale => Err(Errno::NOENT.into()),
        }
    }

    fn held(fd: OwnedFd, name: &str, created: bool) -> Self {
        Self {
            fd,
            name: name.to_owned(),
            created,
        }
    }

    /// The owner of the region, when it is not this process's user.
    pub(crate) fn foreign_owner(&self) -> Result<Option<u32>, OsError> {
        let owner = rustix::fs::fstat(&self.fd)?.st_uid;
        Ok((owner != rustix::process::geteuid().as_raw()).then_some(owner))
    }

    /// The region's size in bytes.
    pub(crate) fn size(&self) -> Result<u64, OsError> {
        let stat = rustix::fs::fstat(&self.fd)?;
        // A size is never negative; the conversion only satisfies the type.
        Ok(u64::try_from(stat.st_size).unwrap_or(0))
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
                &self.fd,
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
        lifetime::leave(&self.fd, &self.name, self.created);
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
        not(all(target_os = "linux", not(wsm_portable))),
        allow(dead_code, reason = "only Linux's mutex locks ranges")
    )]
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self._section.fd)
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

/// The error for a name whose object kept disappearing under us.
fn vanishing(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("the object named {name} was removed {MAX_ATTEMPTS} times while it was opened"),
    )
}

#[cfg(target_os = "linux")]
mod lifetime {
    //! Holder locks: every holder keeps a shared `flock`; the last one unlinks.

    use std::os::fd::{AsRawFd, OwnedFd};

    use rustix::fs::{AtFlags, CWD, FallocateFlags, FlockOperation, Mode, OFlags};
    use rustix::io::Errno;
    use rustix::shm;

    use super::OWNER_ONLY;

    /// The mark of an object the crate made.
    const MARK: Mode = Mode::SVTX;

    /// Where glibc and rustix keep POSIX shared memory objects.
    const SHM_DIR: &str = "/dev/shm";

    /// What joining an object found.
    pub(super) enum Join {
        /// This process now holds the live object.
        Joined,
        /// Nobody held the object: its holders crashed. Its name has been removed.
        Stale,
        /// The object lost its name while this process was joining it.
        Vanished,
    }

    /// Makes a new object of `size` bytes, held by this process, and names it; `None` if a live
    /// or stale object has the name.
    pub(super) fn create_new(
        name: &str,
        size: u64,
        mode: Mode,
    ) -> std::io::Result<Option<OwnedFd>> {
        // The mark comes with the mode: the kernel keeps the sticky bit of an O_TMPFILE's mode
        // (umask only clears permission bits).
        let marked = mode | MARK;
        let fd = rustix::fs::open(
            SHM_DIR,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            marked,
        )?;
        if mode != OWNER_ONLY {
            // A chosen mode is given exactly, whatever bits the umask took away.
            rustix::fs::fchmod(&fd, marked)?;
        }
        rustix::fs::flock(&fd, FlockOperation::LockShared)?;
        // Allocated, not only sized: a full /dev/shm is an error here rather than a SIGBUS at
        // the first write, as Windows commits a section's memory when it creates it.
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size)?;
        let named = path(name);
        // Linking the descriptor itself needs Linux 6.10 (or CAP_DAC_READ_SEARCH); older kernels
        // refuse with ENOENT, and the descriptor's /proc entry does the same job.
        let linked = match rustix::fs::linkat(&fd, "", CWD, named.as_str(), AtFlags::EMPTY_PATH) {
            Err(Errno::NOENT | Errno::PERM) => link_through_proc(&fd, &named),
            other => other.map_err(Into::into),
        };
        match linked {
            Ok(()) => Ok(Some(fd)),
            Err(error) if error.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Links the unnamed file open as `fd` at `named` through its /proc entry.
    fn link_through_proc(fd: &OwnedFd, named: &str) -> std::io::Result<()> {
        let unnamed = format!("/proc/self/fd/{}", fd.as_raw_fd());
        match rustix::fs::linkat(CWD, unnamed.as_str(), CWD, named, AtFlags::SYMLINK_FOLLOW) {
            // The directory was opened, so the missing part is the descriptor's /proc entry.
            Err(Errno::NOENT) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "naming a new region needs Linux 6.10 or /proc mounted ({unnamed} is missing)"
                ),
            )),
            other => other.map_err(Into::into),
        }
    }

    /// Takes a holder's lock on an object just opened under `name`.
    ///
    /// An object that another program made (unmarked) has no holder locks: it is joined as it
    /// is and never removed, as its maker decides its lifetime.
    pub(super) fn join(fd: &OwnedFd, name: &str) -> std::io::Result<Join> {
        if rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
            if remove_if_crate_made(fd, name) {
                return Ok(Join::Stale);
            }
            // Turn the exclusive lock into a holder's, for the crate's other links to see.
            lock_shared(fd)?;
            return Ok(Join::Joined);
        }
        // Blocks only while a last holder is unlinking the object, a few system calls.
        lock_shared(fd)?;
        Ok(if is_named(fd, name)? {
            Join::Joined
        } else {
            Join::Vanished
        })
    }

    /// Lets go of an object; the last holder of an object the crate made removes its name.
    pub(super) fn leave(fd: &OwnedFd, name: &str, _created: bool) {
        if rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
            remove_if_crate_made(fd, name);
        }
    }

    /// A blocking shared lock, resumed when a signal interrupts the wait.
    fn lock_shared(fd: &OwnedFd) -> std::io::Result<()> {
        loop {
            match rustix::fs::flock(fd, FlockOperation::LockShared) {
                Err(Errno::INTR) => continue,
                result => return Ok(result?),
            }
        }
    }

    /// Unlinks `name` if the object of `fd`, which this process locks exclusively, is one the
    /// crate made and the name still names it; says whether the crate made it. A removed name
    /// never comes back to the same object, so once the check passes nobody else can unlink it
    /// first but another stale-remover, whose unlink fails.
    ///
    /// The crate marks its objects with the sticky bit, which means nothing for a regular file
    /// and which other programs do not set.
    fn remove_if_crate_made(fd: &OwnedFd, name: &str) -> bool {
        let Ok(open) = rustix::fs::fstat(fd) else {
            return false;
        };
        let crate_made = open.st_mode & MARK.bits() != 0;
        if crate_made && names(&open, name).unwrap_or(false) {
            let _ = shm::unlink(name);
        }
        crate_made
    }

    /// Whether `name` still names the object open as `fd`.
    fn is_named(fd: &OwnedFd, name: &str) -> std::io::Result<bool> {
        names(&rustix::fs::fstat(fd)?, name)
    }

    /// Whether `name` names the object whose status is `open`.
    fn names(open: &rustix::fs::Stat, name: &str) -> std::io::Result<bool> {
        match rustix::fs::stat(path(name).as_str()) {
            Ok(named) => Ok(open.st_dev == named.st_dev && open.st_ino == named.st_ino),
            Err(Errno::NOENT) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The file system path of a POSIX shared memory name (which starts with `/`).
    fn path(name: &str) -> String {
        format!("{SHM_DIR}{name}")
    }
}

#[cfg(not(target_os = "linux"))]
mod lifetime {
    //! Without `flock` on shared memory descriptors, the creator owns the name.

    use std::os::fd::OwnedFd;

    use rustix::io::Errno;
    use rustix::shm;

    use rustix::fs::Mode;

    /// What joining an object found; without holder locks, always that it was joined. The
    /// other outcomes are Linux's, named here so that the caller is the same everywhere.
    #[allow(
        dead_code,
        reason = "without holder locks nothing is stale or vanishes"
    )]
    pub(super) enum Join {
        Joined,
        Stale,
        Vanished,
    }

    /// Makes and names a new object of `size` bytes; `None` if the name is taken.
    pub(super) fn create_new(
        name: &str,
        size: u64,
        mode: Mode,
    ) -> std::io::Result<Option<OwnedFd>> {
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = match shm::open(name, flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if let Err(error) = rustix::fs::ftruncate(&fd, size) {
            let _ = shm::unlink(name);
            return Err(error.into());
        }
        Ok(Some(fd))
    }

    /// Nothing to take: the object stays while its creator holds it.
    pub(super) fn join(_fd: &OwnedFd, _name: &str) -> std::io::Result<Join> {
        Ok(Join::Joined)
    }

    /// The creator removes the name.
    pub(super) fn leave(_fd: &OwnedFd, name: &str, created: bool) {
        if created {
            let _ = shm::unlink(name);
        }
    }
}
