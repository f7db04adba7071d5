//! The holder-lock protocol of the parent module's documentation (Linux).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD, FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{Disposition, Held, Section, Status, call_failed, failed, open_object};

/// The mark of an object the crate made: the sticky and set-group-ID bits.
const MARK: u32 = libc::S_ISVTX | libc::S_ISGID;

/// The mark that Windows programs of this crate under Wine set and read on a region's file
/// (`Options::linux_host`; they cannot change a mode): the DOS attributes HIDDEN | SYSTEM,
/// which Wine keeps as hexadecimal text in this extended attribute. Either mark makes an
/// object the crate's. Objects made here carry both, so that a Windows holder may remove
/// one as its last holder.
const WINE_MARK_ATTRIBUTE: &str = "user.DOSATTRIB";
const WINE_MARK_BITS: u32 = 0x2 | 0x4;

/// Where glibc and rustix keep POSIX shared memory objects.
const SHM_DIR: &str = "/dev/shm";

/// How long a create or open waits, in all, for removers to finish and names to settle
/// before it gives up. A remover holds its lock for a few system calls.
const PATIENCE: Duration = Duration::from_secs(2);

/// Sweeps this user's stale regions once per process, at its first create or open.
static SWEEP: std::sync::Once = std::sync::Once::new();

/// What one attempt to join the object under a name found.
enum Join {
    /// This process now holds the object.
    Joined(Held),
    /// No object has the name.
    Absent,
    /// The name changed meanwhile (removed, stale and removed, replaced): look again.
    Again,
    /// A remover holds the object's write lock: wait, then look again.
    Busy,
}

/// Creates a region, or joins the live one under the name.
pub(super) fn create_or_open(name: &str, size: u64, mode: Mode) -> io::Result<(Held, Disposition)> {
    sweep_once();
    let fresh = make_unnamed(name, size, mode)?;
    let mut wait = Wait::new(name, "create");
    loop {
        match link(&fresh.fd, name) {
            Ok(()) => return Ok((fresh, Disposition::Created)),
            Err(Errno::EXIST) => {}
            Err(errno) => return Err(failed("linkat", &path(name), errno)),
        }
        match join(name, true)? {
            Join::Joined(held) => return Ok((held, Disposition::Existing)),
            Join::Absent | Join::Again => wait.again()?,
            Join::Busy => wait.busy()?,
        }
    }
}

/// Joins the live region under the name.
pub(super) fn open(name: &str, writable: bool) -> io::Result<Held> {
    sweep_once();
    let mut wait = Wait::new(name, "open");
    loop {
        match join(name, writable)? {
            Join::Joined(held) => return Ok(held),
            Join::Absent => return Err(super::open_failed("open", name, Errno::NOENT)),
            Join::Again => wait.again()?,
            Join::Busy => wait.busy()?,
        }
    }
}

/// The unnamed, marked, locked and allocated object that a create links under its name.
fn make_unnamed(name: &str, size: u64, mode: Mode) -> io::Result<Held> {
    let marked = mode.bits() | MARK;
    let fd = rustix::fs::open(
        SHM_DIR,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(marked),
    )
    .map_err(|errno| failed("open(O_TMPFILE)", SHM_DIR, errno))?;
    let mut status =
        Status::of(&rustix::fs::fstat(&fd).map_err(|errno| failed("fstat", SHM_DIR, errno))?);
    if status.mode & 0o7777 != marked {
        // The umask took bits: the mode is given exactly, as promised.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(marked))
            .map_err(|errno| failed("fchmod", &path(name), errno))?;
        status.mode = (status.mode & !0o7777) | marked;
    }
    // Without user extended attributes on /dev/shm (before Linux 6.6) only the native side
    // knows the object for the crate's: the sweep then removes what a Windows holder left.
    let _ = rustix::fs::fsetxattr(
        &fd,
        WINE_MARK_ATTRIBUTE,
        b"0x6",
        rustix::fs::XattrFlags::CREATE,
    );
    set_lock(&fd, libc::F_RDLCK as _).map_err(|errno| failed(SETLK, SHM_DIR, errno))?;
    // Allocated, not only sized: a full /dev/shm is an error here rather than a SIGBUS at
    // the first write, as Windows commits a section's memory when it creates it.
    rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size)
        .map_err(|errno| failed("fallocate", &path(name), errno))?;
    status.size = size;
    status.links = 1;
    Ok(Held {
        fd,
        status,
        writable: true,
    })
}

/// Names the unnamed object open as `fd`.
fn link(fd: &OwnedFd, name: &str) -> Result<(), Errno> {
    let named = path(name);
    // Linking the descriptor itself needs Linux 6.10 (or CAP_DAC_READ_SEARCH); older
    // kernels refuse with ENOENT, and the descriptor's /proc entry does the same job.
    match rustix::fs::linkat(fd, "", CWD, named.as_str(), AtFlags::EMPTY_PATH) {
        Err(Errno::NOENT | Errno::PERM) => {
            let unnamed = format!("/proc/self/fd/{}", fd.as_raw_fd());
            rustix::fs::linkat(
                CWD,
                unnamed.as_str(),
                CWD,
                named.as_str(),
                AtFlags::SYMLINK_FOLLOW,
            )
        }
        other => other,
    }
}

/// One attempt to join the object under `name` (see the module documentation).
fn join(name: &str, writable: bool) -> io::Result<Join> {
    let named = path(name);
    let opened = match open_object(name, true) {
        // A reader may not write the object: it holds it read-only.
        Err(Errno::ACCESS | Errno::ROFS) if !writable => open_object(name, false),
        other => other,
    };
    let (fd, read_write) = match opened {
        Ok(opened) => opened,
        Err(Errno::NOENT) => return Ok(Join::Absent),
        Err(errno) => return Err(super::open_failed("open", name, errno)),
    };
    let probe = probe_lock(&fd).map_err(|errno| failed(GETLK, &named, errno))?;
    match probe {
        Probe::Held => {
            match set_lock(&fd, libc::F_RDLCK as _) {
                Ok(()) => {}
                Err(Errno::AGAIN) => return Ok(Join::Busy),
                Err(errno) => return Err(failed(SETLK, &named, errno)),
            }
            let status = super::regular_status(&fd, name)?;
            if status.links == 0 {
                return Ok(Join::Again);
            }
            Ok(Join::Joined(Held {
                fd,
                status,
                writable: read_write,
            }))
        }
        Probe::Removing => Ok(Join::Busy),
        Probe::Free => {
            let status = super::regular_status(&fd, name)?;
            if !marked(&fd, &status) {
                // Another program's object: its maker decides its lifetime.
                set_lock(&fd, libc::F_RDLCK as _).map_err(|errno| failed(SETLK, &named, errno))?;
                return Ok(Join::Joined(Held {
                    fd,
                    status,
                    writable: read_write,
                }));
            }
            if !read_write {
                if !still_names(&status, name) {
                    return Ok(Join::Again);
                }
                // The user may not write it, so may not lock it to remove it either.
                let errno = open_object(name, true).err().unwrap_or(Errno::ACCESS);
                return Err(stale(name, "open(O_RDWR)", errno, status.owner));
            }
            remove_stale(&fd, &status, name)?;
            Ok(Join::Again)
        }
    }
}

/// Removes the name of the stale object open (read-write) as `fd`, unless someone locked
/// it meanwhile or the name names another object now.
fn remove_stale(fd: &OwnedFd, status: &Status, name: &str) -> io::Result<bool> {
    match set_lock(fd, libc::F_WRLCK as _) {
        Ok(()) => {}
        Err(Errno::AGAIN) => return Ok(false),
        Err(errno) => return Err(failed(SETLK, &path(name), errno)),
    }
    unlink_if_named(status, name)
}

/// Unlinks `name` if it still names the object whose status is `status`, whose write lock
/// this process holds; says whether it did.
fn unlink_if_named(status: &Status, name: &str) -> io::Result<bool> {
    if !still_names(status, name) {
        return Ok(false);
    }
    match rustix::fs::unlink(path(name).as_str()) {
        Ok(()) | Err(Errno::NOENT) => Ok(true),
        Err(errno) => Err(stale(name, "unlink", errno, status.owner)),
    }
}

/// The error for a stale object that this process cannot remove: no live region has the
/// name, and `call` says why it stays.
fn stale(name: &str, call: &'static str, errno: Errno, owner: u32) -> io::Error {
    let meaning = format!(
        "the region is stale: no process holds it, and only its owner (uid {owner}) can \
         remove it"
    );
    call_failed(io::ErrorKind::NotFound, call, &path(name), errno, meaning)
}

/// Lets go of a region (in the process that opened it); the last holder of a marked object
/// removes its name.
///
/// A child made by `fork` shares the descriptor's open file description, and with it the
/// read lock: converting that lock would take the child's hold as well, and the name would
/// go while the child still uses the region. So after a fork the leaver first holds the
/// object through a description of its own and lets the shared one go (the child's copy
/// keeps its lock), then converts only its own. Without a fork nobody shares it.
pub(super) fn leave(section: &mut Section) {
    let forked = section.forks != super::forks();
    let held = &mut section.held;
    if !held.writable || (forked && !hold_alone(held, &section.name)) {
        return;
    }
    if set_lock(&held.fd, libc::F_WRLCK as _).is_err() {
        return;
    }
    if marked(&held.fd, &held.status) && still_names(&held.status, &section.name) {
        let _ = rustix::fs::unlink(path(&section.name).as_str());
    }
}

/// Replaces `held`'s descriptor, whose description a forked child may share, with a new
/// one of the same object under `name`, read-locked; false when the name no longer names
/// it (there is then no name of this region's to remove).
fn hold_alone(held: &mut Held, name: &str) -> bool {
    match open_object(name, true) {
        Ok((own, _)) => {
            let same = rustix::fs::fstat(&own).is_ok_and(|stat| {
                let status = Status::of(&stat);
                status.device == held.status.device && status.inode == held.status.inode
            });
            if !same || set_lock(&own, libc::F_RDLCK as _).is_err() {
                return false;
            }
            drop(std::mem::replace(&mut held.fd, own));
            true
        }
        // A mode that denies the owner writing (the descriptor predates it): only the held
        // description can take the write lock, a forked child's copy's hold with it.
        Err(Errno::ACCESS) => true,
        Err(_) => false,
    }
}

/// Whether the crate made the object open as `fd`: its mode or its Wine attributes say so.
fn marked(fd: &OwnedFd, status: &Status) -> bool {
    status.mode & MARK == MARK
        || wine_mark(|value| rustix::fs::fgetxattr(fd, WINE_MARK_ATTRIBUTE, value))
}

/// Whether the Wine attributes that `read` fetches (Wine writes `0x6`) have the mark's bits.
fn wine_mark(read: impl FnOnce(&mut [u8]) -> Result<usize, Errno>) -> bool {
    let mut value = [0_u8; 16];
    let Ok(len) = read(&mut value) else {
        return false;
    };
    std::str::from_utf8(&value[..len])
        .ok()
        .and_then(|text| text.trim_end_matches('\0').strip_prefix("0x"))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .is_some_and(|attributes| attributes & WINE_MARK_BITS == WINE_MARK_BITS)
}

/// Whether `name` still names the object whose status is `status`.
#[allow(
    clippy::unnecessary_cast,
    reason = "the field types differ between architectures"
)]
fn still_names(status: &Status, name: &str) -> bool {
    rustix::fs::lstat(path(name).as_str()).is_ok_and(|named| {
        named.st_dev as u64 == status.device && named.st_ino as u64 == status.inode
    })
}

/// Sweeps this process's user's stale regions, once per process.
fn sweep_once() {
    // A failed sweep costs only memory, which the next process's sweep may reclaim.
    SWEEP.call_once(|| drop(reclaim_stale()));
}

/// Removes the names of this user's marked objects that no process holds.
pub(super) fn reclaim_stale() -> io::Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let mut removed = 0;
    let entries = std::fs::read_dir(SHM_DIR)
        .map_err(|error| io::Error::new(error.kind(), format!("reading `{SHM_DIR}`: {error}")))?;
    for entry in entries.flatten() {
        // The directory entry's type and an lstat: neither follows a link.
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let name = format!("/{file_name}");
        let wine_marked = || {
            wine_mark(|value| {
                rustix::fs::lgetxattr(path(&name).as_str(), WINE_MARK_ATTRIBUTE, value)
            })
        };
        if meta.uid() != me || (meta.mode() & MARK != MARK && !wine_marked()) {
            continue;
        }
        let Ok((fd, true)) = open_object(&name, true) else {
            continue;
        };
        // Live regions (the usual case) end here, at the write lock they hold off.
        if set_lock(&fd, libc::F_WRLCK as _).is_err() {
            continue;
        }
        let Ok(status) = super::regular_status(&fd, &name) else {
            continue;
        };
        if status.owner == me
            && marked(&fd, &status)
            && status.links > 0
            && unlink_if_named(&status, &name).unwrap_or(false)
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The file system path of a POSIX shared memory name (which starts with `/`).
fn path(name: &str) -> String {
    format!("{SHM_DIR}{name}")
}

/// The calls named in errors.
const SETLK: &str = "fcntl(F_OFD_SETLK)";
const GETLK: &str = "fcntl(F_OFD_GETLK)";

/// What `F_OFD_GETLK` tells of the other descriptions' locks.
enum Probe {
    /// A read lock: a holder.
    Held,
    /// A write lock: a remover at work.
    Removing,
    /// No lock: nobody holds the object.
    Free,
}

/// Asks whether a write lock on byte 0 would conflict, and with what.
fn probe_lock(fd: &OwnedFd) -> Result<Probe, Errno> {
    let mut lock = holder_byte(libc::F_WRLCK as _);
    fcntl(fd, libc::F_OFD_GETLK, &mut lock)?;
    Ok(match i32::from(lock.l_type) {
        libc::F_UNLCK => Probe::Free,
        libc::F_RDLCK => Probe::Held,
        _ => Probe::Removing,
    })
}

/// Sets (or converts to) a lock of `kind` on byte 0, without waiting.
fn set_lock(fd: &OwnedFd, kind: libc::c_short) -> Result<(), Errno> {
    let mut lock = holder_byte(kind);
    fcntl(fd, libc::F_OFD_SETLK, &mut lock)
}

/// A lock request on byte 0, the byte of the protocol's every lock.
fn holder_byte(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is plain integers, for which all zeroes is a valid value (and
    // `l_pid` must be 0 for an OFD lock request).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as _;
    lock.l_len = 1;
    lock
}

/// `fcntl(fd, command, lock)`, resumed when a signal interrupts it.
fn fcntl(fd: &OwnedFd, command: libc::c_int, lock: &mut libc::flock) -> Result<(), Errno> {
    loop {
        // SAFETY: `fd` is open for the call, and `lock` is a valid, writable `flock`, which
        // is what the OFD lock commands read and (F_OFD_GETLK) write.
        if unsafe { libc::fcntl(fd.as_raw_fd(), command, std::ptr::from_mut(lock)) } != -1 {
            return Ok(());
        }
        let errno = Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO);
        if errno != Errno::INTR {
            return Err(errno);
        }
    }
}

/// The bound on a create's or open's waits and retries, and the error when it is spent.
struct Wait<'a> {
    name: &'a str,
    operation: &'static str,
    deadline: Instant,
    pause: Duration,
    rounds: u32,
}

impl<'a> Wait<'a> {
    fn new(name: &'a str, operation: &'static str) -> Self {
        Self {
            name,
            operation,
            deadline: Instant::now() + PATIENCE,
            pause: Duration::from_micros(20),
            rounds: 0,
        }
    }

    /// The name changed under us: look again at once, a bounded number of times.
    fn again(&mut self) -> io::Result<()> {
        self.rounds += 1;
        if self.rounds < 64 {
            return Ok(());
        }
        self.busy()
    }

    /// A remover holds the lock: pause (longer each time), unless the patience is spent.
    fn busy(&mut self) -> io::Result<()> {
        if Instant::now() >= self.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} of `{}` gave up after {PATIENCE:?}: the region's lock stayed \
                     exclusively held (fcntl(F_OFD_GETLK) kept reporting a write lock) or \
                     its name kept changing",
                    self.operation,
                    path(self.name)
                ),
            ));
        }
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Duration::from_millis(10));
        Ok(())
    }
}
