//! Without OFD locks on shared memory descriptors (macOS), the creator owns the name.

use std::io;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use super::{Disposition, Held, Section, Status, failed, object_path, open_object};

/// Creates and names a new region, or opens the one under the name.
pub(super) fn create_or_open(name: &str, size: u64, mode: Mode) -> io::Result<(Held, Disposition)> {
    // Another process may remove the name between the two calls; each round means it did.
    for _ in 0..64 {
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        match shm::open(name, flags, mode) {
            Ok(fd) => return Ok((made(fd, name, size, mode)?, Disposition::Created)),
            Err(Errno::EXIST) => {}
            Err(errno) => return Err(failed("shm_open(O_CREAT)", &object_path(name), errno)),
        }
        match open(name, true) {
            Ok(held) => return Ok((held, Disposition::Existing)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "`{}` kept being removed while it was created or opened",
            object_path(name)
        ),
    ))
}

/// Gives a new object its exact mode and size; unlinks it if that fails.
fn made(fd: std::os::fd::OwnedFd, name: &str, size: u64, mode: Mode) -> io::Result<Held> {
    let shape = || {
        // The mode is given exactly, whatever bits the umask took away.
        rustix::fs::fchmod(&fd, mode)
            .map_err(|errno| failed("fchmod", &object_path(name), errno))?;
        rustix::fs::ftruncate(&fd, size)
            .map_err(|errno| failed("ftruncate", &object_path(name), errno))
    };
    if let Err(error) = shape() {
        let _ = shm::unlink(name);
        return Err(error);
    }
    let status = Status {
        size,
        ..super::regular_status(&fd, name)?
    };
    Ok(Held { fd, status })
}

/// Opens the region under the name.
pub(super) fn open(name: &str, writable: bool) -> io::Result<Held> {
    let (fd, _) =
        open_object(name, writable).map_err(|errno| super::open_failed("shm_open", name, errno))?;
    let status = super::regular_status(&fd, name)?;
    Ok(Held { fd, status })
}

/// The creator removes the name.
pub(super) fn leave(section: &Section) {
    if section.created {
        let _ = shm::unlink(section.name.as_str());
    }
}

/// Nothing tells a stale object from a live one without holder locks.
pub(super) fn reclaim_stale() -> io::Result<usize> {
    Ok(0)
}
