//! The holder-lock protocol of the parent module's documentation (Linux).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD, FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use super::ofd_lock::{self, GETLK, Lock, SETLK};
use super::{
    Disposition, Held, Section, Status, call_failed, failed, open_object, restart_on_interrupt,
};
use crate::boundary;

mod sweep;

pub(super) use sweep::reclaim_stale;

/// The native mark of an object the crate made: the sticky bit, which only the owner can set,
/// which means nothing for a regular file, and which no write or `chmod` of the owner's clears
/// (see `boundary` for the mark that Windows programs set). 0.2 also set the set-group-ID bit,
/// which makes a real set-group-ID program of a region with group execute permission: no
/// longer set, and not needed to recognise 0.2's objects, which have the sticky bit too.
const MARK: u32 = libc::S_ISVTX;

/// Where glibc and rustix keep POSIX shared memory objects.
const SHM_DIR: &str = "/dev/shm";

/// How long a create or open waits, in all, for removers to finish and names to settle
/// before it gives up. A remover holds its lock for a few system calls.
const PATIENCE: Duration = Duration::from_secs(2);

/// The byte of the holder and remover locks.
const HOLDER_BYTE: u32 = crate::boundary::HOLDERS_BYTE;

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
    sweep::once();
    let fresh = make_unnamed(name, size, mode)?;
    let mut wait = Wait::new(name, "create");
    loop {
        match link(&fresh.fd, name) {
            Ok(()) => {
                // Listed once named: a remover of the name's previous object, which unlists
                // the name, is done with it by now (or lists it again, seeing this one). A
                // process killed between the two system calls leaves it unlisted: the next
                // use of the name or `reclaim_stale()` removes it then.
                sweep::remember(name);
                return Ok((fresh, Disposition::Created));
            }
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
    sweep::once();
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
        boundary::DOS_ATTRIBUTES_XATTR,
        boundary::MARK_ATTRIBUTES_TEXT,
        rustix::fs::XattrFlags::CREATE,
    );
    ofd_lock::try_lock(&fd, Lock::Read, HOLDER_BYTE)
        .map_err(|errno| failed(SETLK, SHM_DIR, errno))?;
    // Allocated, not only sized: a full /dev/shm is an error here rather than a SIGBUS at
    // the first write, as Windows commits a section's memory when it creates it. Before Linux
    // 6.9, tmpfs gives up an allocation at any pending signal (EINTR): it is resumed.
    restart_on_interrupt(|| rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size))
        .map_err(|errno| failed("fallocate", &path(name), errno))?;
    // The mark that Windows programs read (the access time). Without it
    // the native mark still holds, and Windows holders leave the name to native ones.
    let _ = rustix::fs::futimens(&fd, &mark_times());
    status.size = size;
    status.links = 1;
    status.accessed = boundary::MARK_ACCESSED;
    Ok(Held {
        fd,
        status,
        writable: true,
    })
}

/// The file times of the mark: its access time, and the modification time left alone.
fn mark_times() -> rustix::fs::Timestamps {
    rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: boundary::MARK_ACCESSED.seconds,
            tv_nsec: boundary::MARK_ACCESSED.nanoseconds.into(),
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
    }
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
    // Read-only when the user may not write it: a reader holds it so, and a stale object of
    // the user's own is still found (and removed) when its mode denies the owner writing.
    let (opened, write_denied) = match open_object(name, true) {
        Err(errno @ (Errno::ACCESS | Errno::ROFS)) => (open_object(name, false), errno),
        other => (other, Errno::ACCESS),
    };
    let (fd, read_write) = match opened {
        Ok(opened) => opened,
        Err(Errno::NOENT) => return Ok(Join::Absent),
        Err(errno) => return Err(super::open_failed("open", name, errno)),
    };
    let refused = || super::open_failed("open", name, write_denied);
    let probe = ofd_lock::conflicting(&fd, Lock::Write, HOLDER_BYTE)
        .map_err(|errno| failed(GETLK, &named, errno))?;
    match probe {
        Some(Lock::Read) => {
            if writable && !read_write {
                return Err(refused());
            }
            match ofd_lock::try_lock(&fd, Lock::Read, HOLDER_BYTE) {
                Ok(()) => {}
                Err(errno) if ofd_lock::is_conflict(errno) => return Ok(Join::Busy),
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
        Some(Lock::Write) => Ok(Join::Busy),
        None => {
            let status = super::regular_status(&fd, name)?;
            if !marked(&fd, &status) {
                // Another program's object: its maker decides its lifetime.
                if writable && !read_write {
                    return Err(refused());
                }
                ofd_lock::try_lock(&fd, Lock::Read, HOLDER_BYTE)
                    .map_err(|errno| failed(SETLK, &named, errno))?;
                return Ok(Join::Joined(Held {
                    fd,
                    status,
                    writable: read_write,
                }));
            }
            let remover = if read_write {
                fd
            } else {
                match writable_as_owner(&fd, &status, name) {
                    Writable::Opened(remover) => remover,
                    Writable::Changed => return Ok(Join::Again),
                    Writable::Denied(errno) => {
                        return Err(stale(name, "open(O_RDWR)", errno, status.owner));
                    }
                }
            };
            remove_stale(&remover, &status, name)?;
            Ok(Join::Again)
        }
    }
}

/// What asking for a writable descriptor of an object found read-only gave.
enum Writable {
    /// A new, writable description of the same object.
    Opened(OwnedFd),
    /// The name names another object now, or the mode changed meanwhile: look again.
    Changed,
    /// This process may not write it (another user's object).
    Denied(Errno),
}

/// A writable description of the stale object open read-only as `fd` under `name`, which the
/// remover's write lock needs. Its owner may always give itself write permission, and does so
/// for the two system calls of the `open` when the mode denies it (`0o444`, `0o400`): so that
/// the owner's next use of the name or sweep reclaims the object whatever its mode, as
/// promised. Only for an object that no description holds (the caller checked): nobody joins
/// a marked object that nobody holds (a joiner removes it instead), so no holder ever gets a
/// writable descriptor through that moment; a process killed in it leaves the owner's write
/// bit on an object that the next look removes.
fn writable_as_owner(fd: &OwnedFd, status: &Status, name: &str) -> Writable {
    let me = rustix::process::geteuid().as_raw();
    if status.owner != me {
        let errno = open_object(name, true).err().unwrap_or(Errno::ACCESS);
        return Writable::Denied(errno);
    }
    let mode = status.mode & 0o7777;
    if mode & libc::S_IWUSR != 0 {
        // Someone else's `writable_as_owner` has the bit set right now.
        return Writable::Changed;
    }
    let with_write = Mode::from_raw_mode(mode | libc::S_IWUSR);
    if let Err(errno) = rustix::fs::fchmod(fd, with_write) {
        return Writable::Denied(errno);
    }
    let opened = open_object(name, true);
    // Put back as it was; the object is about to go, so only its remover's view matters.
    let _ = rustix::fs::fchmod(fd, Mode::from_raw_mode(mode));
    match opened {
        Ok((writable, _)) if same_object(&writable, status) => Writable::Opened(writable),
        // Another remover put the mode back between this one's two calls: look again.
        Ok(_) | Err(Errno::NOENT | Errno::ACCESS) => Writable::Changed,
        Err(errno) => Writable::Denied(errno),
    }
}

/// Whether `fd` is the object whose status is `status`.
fn same_object(fd: &OwnedFd, status: &Status) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|stat| {
        let other = Status::of(&stat);
        other.device == status.device && other.inode == status.inode
    })
}

/// Removes the name of the stale object open (read-write) as `fd`, unless someone locked
/// it meanwhile or the name names another object now.
fn remove_stale(fd: &OwnedFd, status: &Status, name: &str) -> io::Result<bool> {
    match ofd_lock::try_lock(fd, Lock::Write, HOLDER_BYTE) {
        Ok(()) => {}
        Err(errno) if ofd_lock::is_conflict(errno) => return Ok(false),
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
    let removed = match rustix::fs::unlink(path(name).as_str()) {
        Ok(()) | Err(Errno::NOENT) => true,
        Err(errno) => return Err(stale(name, "unlink", errno, status.owner)),
    };
    sweep::forget(name);
    Ok(removed)
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
/// keeps its lock), then converts only its own. Without a fork nobody shares it. A holder
/// whose descriptor is read-only cannot take the write lock: see [`leave_read_only`].
pub(super) fn leave(section: &mut Section) {
    let forked = section.forks != super::forks();
    let held = &mut section.held;
    if !held.writable {
        if !forked {
            leave_read_only(held, &section.name);
        }
        return;
    }
    if forked && !hold_alone(held, &section.name) {
        return;
    }
    if ofd_lock::try_lock(&held.fd, Lock::Write, HOLDER_BYTE).is_err() {
        return;
    }
    if marked(&held.fd, &held.status) {
        let _ = unlink_if_named(&held.status, &section.name);
    }
}

/// Lets go of a region held through a read-only descriptor, which cannot take the remover's
/// write lock: if no other description holds it, this one's read lock goes, and the object is
/// examined as the sweep does, which removes its name if nobody joined meanwhile (its owner
/// gives itself write access for that, when its mode denies it).
fn leave_read_only(held: &Held, name: &str) {
    let others = ofd_lock::conflicting(&held.fd, Lock::Write, HOLDER_BYTE);
    if others.is_ok_and(|holder| holder.is_none())
        && ofd_lock::unlock(&held.fd, HOLDER_BYTE).is_ok()
    {
        sweep::examine(name);
    }
}

/// Makes `held` a description of its own: replaces its descriptor, whose description a forked
/// child shares, with a new, writable one of the same object under `name`, read-locked. False
/// when that cannot be had: the name no longer names the object, or the user may not write
/// it (now), or the process has no descriptor to spare.
fn hold_alone(held: &mut Held, name: &str) -> bool {
    // Any failure (the name gone, the mode, the descriptor limit) leaves the name to the
    // sweep: converting a description that a child may share would take its hold too.
    let own = match open_object(name, true) {
        Ok((own, _)) if same_object(&own, &held.status) => own,
        _ => return false,
    };
    if ofd_lock::try_lock(&own, Lock::Read, HOLDER_BYTE).is_err() {
        return false;
    }
    drop(std::mem::replace(&mut held.fd, own));
    held.writable = true;
    true
}

/// Whether the crate made the object open as `fd`: its mode says so (only its owner can set
/// it), or the mark of a Windows program of the crate (see `boundary`).
fn marked(fd: &OwnedFd, status: &Status) -> bool {
    // The time first: it comes with the status, the attributes take a system call.
    status.mode & MARK != 0
        || (status.accessed == boundary::MARK_ACCESSED
            && dos_attributes(fd)
                .is_some_and(|attributes| boundary::is_marked(attributes, status.accessed)))
}

/// The DOS attributes that Wine keeps in an extended attribute of the object open as `fd`.
fn dos_attributes(fd: &OwnedFd) -> Option<u32> {
    let mut value = [0_u8; 16];
    let len = rustix::fs::fgetxattr(fd, boundary::DOS_ATTRIBUTES_XATTR, &mut value).ok()?;
    boundary::parse_dos_attributes(&value[..len])
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

/// The file system path of a POSIX shared memory name (which starts with `/`).
fn path(name: &str) -> String {
    format!("{SHM_DIR}{name}")
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
