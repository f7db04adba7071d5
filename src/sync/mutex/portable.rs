//! Without robust mutexes or range locks on shared memory (macOS): an exclusive `flock` on a
//! lock file, released by the kernel when its holder dies, and a held flag in the file that
//! tells owner death.
//!
//! The file is in `/tmp`, a fixed directory, so that processes whose `$TMPDIR` differ still
//! share it; `/tmp` is sticky, so nobody but its owner can replace it. It is opened without
//! following a symbolic link, refused if it is not a regular file, and refused if another user
//! owns it unless the options allow that.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, FlockOperation};
use rustix::io::Errno;

use super::Acquired;
use crate::name::RegionName;
use crate::sync::{Failure, companion};
use crate::{Options, SharedMemoryError};

/// Where lock files live, whatever the environment says.
const LOCK_DIRECTORY: &str = "/tmp";

/// How long a waiter sleeps between two attempts: `flock` has no timed wait.
const POLL: Duration = Duration::from_millis(1);

pub(super) struct Mutex {
    file: File,
    /// The process that opened the file. A child made by `fork` shares its open file
    /// description, and with it the `flock`: a copy there must neither lock (`flock` would
    /// grant the description's own lock at once) nor unlock its parent's lock.
    opener: u32,
}

impl Mutex {
    pub(super) fn open(name: &RegionName, options: &Options) -> Result<Self, SharedMemoryError> {
        options.check(name)?;
        let path = format!(
            "{LOCK_DIRECTORY}/wsm-mutex{}",
            name.encoded().replace('/', "-")
        );
        // Errors name the mutex as the user did; the lock file is the crate's business.
        let failed = |call, source: Errno| SharedMemoryError::Synchronization {
            name: name.as_str().to_owned(),
            call,
            source: source.into(),
        };
        let options = crate::sync::companion::companion_options(options);
        let fd = companion::open_lock_file(&path, &options)
            .map_err(|source| failed("open of its lock file in /tmp", source))?;
        let stat = rustix::fs::fstat(&fd)
            .map_err(|source| failed("fstat of its lock file in /tmp", source))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(SharedMemoryError::SynchronizationRefused {
                name: name.as_str().to_owned(),
                call: "open",
                reason: "its lock file in /tmp is not a regular file",
            });
        }
        if options.owner_required() && stat.st_uid != rustix::process::geteuid().as_raw() {
            return Err(SharedMemoryError::ForeignOwner {
                name: name.as_str().to_owned(),
                owner: stat.st_uid,
            });
        }
        Ok(Self {
            file: File::from(fd),
            opener: std::process::id(),
        })
    }

    pub(super) fn lock(&self, timeout: Option<Duration>) -> Result<Acquired, Failure> {
        if std::process::id() != self.opener {
            return Err(Failure::Refused(
                "lock",
                "this handle was copied into a forked child: open the mutex again there",
            ));
        }
        let started = Instant::now();
        loop {
            match rustix::fs::flock(&self.file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(Errno::WOULDBLOCK | Errno::INTR) => {}
                Err(error) => return Err(Failure::Os("flock", error.into())),
            }
            let waited = started.elapsed();
            let left = match timeout {
                None => POLL,
                Some(timeout) if waited >= timeout => return Ok(Acquired::TimedOut),
                Some(timeout) => (timeout - waited).min(POLL),
            };
            std::thread::sleep(left);
        }
        let mut flag = [0_u8];
        let read = self.file.read_at(&mut flag, 0);
        let written = self.file.write_all_at(&[1], 0);
        if let Err(error) = read.and(written) {
            // No guard will release it: let go before reporting.
            self.unlock();
            return Err(Failure::Os("pwrite", error));
        }
        // Any byte but 0 there is a holder that never cleared it.
        Ok(if flag[0] != 0 {
            Acquired::OwnerDied
        } else {
            Acquired::Locked
        })
    }

    pub(super) fn unlock(&self) {
        if std::process::id() != self.opener {
            // A guard copied into a forked child: the lock is its parent's.
            return;
        }
        let _ = self.file.write_all_at(&[0], 0);
        let _ = rustix::fs::flock(&self.file, FlockOperation::Unlock);
    }
}

// `libc` (for `fork`) is a dependency on Linux only, where the portable backend is also built.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A handle copied by `fork` shares the parent's open file description, and with it the
    /// `flock`: in the child it must neither lock (that would succeed at once, the lock being
    /// the description's) nor unlock the parent's lock.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn a_handle_copied_by_fork_refuses_to_lock_in_the_child() {
        let name = RegionName::new(&format!(
            "Local\\wsm_unit_portable_fork_{}",
            std::process::id()
        ))
        .unwrap();
        let mutex = Mutex::open(&name, &Options::new()).unwrap();
        assert!(matches!(mutex.lock(None).ok().unwrap(), Acquired::Locked));
        // SAFETY: the child makes a few system calls and leaves with `_exit`, running nothing
        // that another thread of the parent could have left locked.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let refused = matches!(mutex.lock(Some(Duration::ZERO)), Err(Failure::Refused(..)));
            // As a guard copied into the child would.
            mutex.unlock();
            // SAFETY: ends the child without running the parent's destructors or tests.
            unsafe { libc::_exit(if refused { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked, into a local.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        let other = Mutex::open(&name, &Options::new()).unwrap();
        assert!(
            matches!(
                other.lock(Some(Duration::ZERO)).ok().unwrap(),
                Acquired::TimedOut
            ),
            "the parent still holds the lock"
        );
        mutex.unlock();
        let _ = std::fs::remove_file(format!(
            "{LOCK_DIRECTORY}/wsm-mutex{}",
            name.encoded().replace('/', "-")
        ));
    }
}
