//! The Unix companion region of a named mutex or event: `<name>#mutex` or `<name>#event`, made
//! zero-filled by whoever comes first, with the crate's region lifetime.
//!
//! Its owner is checked by default (another user's object under the name is refused with
//! [`SharedMemoryError::ForeignOwner`]), and every failure names the mutex or event as the
//! user gave it, never the companion's name, which the user did not choose.

#[cfg(not(wsm_holder_locks))]
use std::os::fd::OwnedFd;

#[cfg(not(wsm_holder_locks))]
use rustix::fs::{Mode, OFlags};
#[cfg(not(wsm_holder_locks))]
use rustix::io::Errno;

use crate::name::RegionName;
use crate::{Options, ReadWrite, SharedMemory, SharedMemoryError};

/// Opens the companion `<name>#<kind>` of at least `len` bytes, creating it if nobody has it.
pub(super) fn open_or_create(
    name: &RegionName,
    kind: &str,
    len: usize,
    options: &Options,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    let object = companion_name(name, kind)?;
    SharedMemory::<ReadWrite>::get_or_create_with(&object, len, &companion_options(options))
        .map_err(|error| named(error, name))
}

/// Opens the existing companion `<name>#<kind>`, which must have at least `len` bytes.
pub(super) fn open_existing(
    name: &RegionName,
    kind: &str,
    len: usize,
    options: &Options,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    let object = companion_name(name, kind)?;
    SharedMemory::<ReadWrite>::open_existing_with(&object, &companion_options(options))
        .map_err(|error| named(error, name))
        .and_then(|region| check_len(region, name, len))
}

/// The companion's name, `<name>#<kind>`; a name whose companion's would be too long is
/// refused up front, naming the object as the user gave it.
fn companion_name(name: &RegionName, kind: &str) -> Result<String, SharedMemoryError> {
    let object = format!("{}#{kind}", name.as_str());
    match RegionName::new(&object) {
        Ok(_) => Ok(object),
        Err(_) => Err(SharedMemoryError::InvalidName {
            name: name.as_str().to_owned(),
            reason: "on Unix a mutex or event keeps its state in a region named `<name>#mutex` or \
                     `<name>#event`, so its name is at most 248 bytes after a `Local\\` \
                     prefix (24 on macOS)",
        }),
    }
}

/// Refuses an existing companion too small for its state.
fn check_len(
    region: SharedMemory<ReadWrite>,
    name: &RegionName,
    len: usize,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    if region.len() < len {
        return Err(too_small(name));
    }
    Ok(region)
}

/// Why a companion too small for the object's state is refused.
pub(super) const TOO_SMALL: &str = "the region that holds its state on Unix is smaller than the \
                                    state: another program made or shrank it";

/// The refusal of a companion too small for the object's state, named as the user named it.
fn too_small(name: &RegionName) -> SharedMemoryError {
    SharedMemoryError::SynchronizationRefused {
        name: name.as_str().to_owned(),
        call: "open",
        reason: TOO_SMALL,
    }
}

/// Whether `error` is [`too_small`]'s.
pub(super) fn is_too_small(error: &SharedMemoryError) -> bool {
    matches!(error, SharedMemoryError::SynchronizationRefused { reason, .. } if *reason == TOO_SMALL)
}

/// The companion's error as the user's: named as the user named the mutex or event, and for a
/// failed system call, the call on a synchronisation object.
fn named(error: SharedMemoryError, name: &RegionName) -> SharedMemoryError {
    let user = name.as_str().to_owned();
    match error {
        SharedMemoryError::Open { source, .. } => SharedMemoryError::Synchronization {
            name: user,
            call: crate::sys::OPEN_CALL,
            source,
        },
        SharedMemoryError::Create { source, .. } => SharedMemoryError::Synchronization {
            name: user,
            call: crate::sys::CREATE_CALL,
            source,
        },
        SharedMemoryError::Map { source, .. } => SharedMemoryError::Synchronization {
            name: user,
            call: crate::sys::MAP_CALL,
            source,
        },
        SharedMemoryError::QuerySize { source, .. } => SharedMemoryError::Synchronization {
            name: user,
            call: crate::sys::SIZE_CALL,
            source,
        },
        SharedMemoryError::SizeMismatch { .. } | SharedMemoryError::EmptyRegion { .. } => {
            too_small(name)
        }
        SharedMemoryError::TooLarge { len, .. } => SharedMemoryError::TooLarge { name: user, len },
        SharedMemoryError::InvalidName { reason, .. } => {
            SharedMemoryError::InvalidName { name: user, reason }
        }
        SharedMemoryError::ForeignOwner { owner, .. } => {
            SharedMemoryError::ForeignOwner { name: user, owner }
        }
        SharedMemoryError::InvalidOptions { reason, .. } => {
            SharedMemoryError::InvalidOptions { name: user, reason }
        }
        SharedMemoryError::SecurityDescriptor { source, .. } => {
            SharedMemoryError::SecurityDescriptor { name: user, source }
        }
        other => other,
    }
}

/// The options of a synchronisation object's companion region: its owner is checked unless
/// the options say otherwise.
pub(super) fn companion_options(options: &Options) -> Options {
    // The public open waits for the name to be created, if asked; the companion's open looks
    // once per round of that wait.
    options
        .clone()
        .require_owner(options.owner_check().unwrap_or(true))
        .opening_once()
}

/// Rounds of creating, or opening, a lock file that others keep removing, before giving up.
#[cfg(not(wsm_holder_locks))]
const OPEN_ATTEMPTS: usize = 64;

/// Opens the lock file at `path` (the companion of a mutex or writer role on macOS), creating
/// it with the options' mode (exactly, whatever the umask) if it is missing; never through a
/// symbolic link, never blocking on a FIFO.
#[cfg(not(wsm_holder_locks))]
pub(super) fn open_lock_file(path: &str, options: &Options) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let mode = options.permissions().mode.unwrap_or(0o600);
    let mode = Mode::from_raw_mode(mode as rustix::fs::RawMode);
    for _ in 0..OPEN_ATTEMPTS {
        match rustix::fs::open(path, flags | OFlags::CREATE | OFlags::EXCL, mode) {
            Ok(fd) => {
                rustix::fs::fchmod(&fd, mode)?;
                return Ok(fd);
            }
            Err(Errno::EXIST) => {}
            Err(error) => return Err(error),
        }
        match rustix::fs::open(path, flags, Mode::empty()) {
            // Removed in between: make it again.
            Err(Errno::NOENT) => continue,
            opened => return opened,
        }
    }
    Err(Errno::NOENT)
}

#[cfg(test)]
mod tests {
    use crate::SharedMemoryError;
    use crate::sync::{EventReset, NamedEvent, NamedMutex};

    /// The longest name whose companion still fits, and the first that is refused with the
    /// user's own name rather than the companion's.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn a_name_too_long_for_its_companion_is_refused_with_the_users_name() {
        let longest = if cfg!(target_vendor = "apple") {
            24
        } else {
            248
        };
        let unique = format!("c{}_", std::process::id());
        let fits = format!("{unique}{}", "x".repeat(longest - unique.len()));
        assert!(NamedEvent::new(&fits, EventReset::Auto).is_ok());
        let too_long = format!("{fits}y");
        let mut refused = vec![
            NamedEvent::new(&too_long, EventReset::Auto).err(),
            NamedEvent::open(&too_long).err(),
        ];
        // The portable backend's mutex is a lock file in /tmp, not a companion region.
        if cfg!(wsm_holder_locks) {
            assert!(NamedMutex::new(&fits).is_ok());
            refused.push(NamedMutex::new(&too_long).err());
        }
        for error in refused {
            match error {
                Some(SharedMemoryError::InvalidName { name, reason }) => {
                    assert_eq!(name, too_long);
                    assert!(reason.contains("248 bytes"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
