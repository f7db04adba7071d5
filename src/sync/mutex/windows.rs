//! A Win32 named mutex.

use std::time::Duration;

use windows_sys::Win32::Foundation::{WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateMutexExW, MUTEX_MODIFY_STATE, ReleaseMutex, SYNCHRONIZATION_SYNCHRONIZE,
};

use super::Acquired;
use crate::name::RegionName;
use crate::sync::Failure;
use crate::sync::win32::{create_access, wait_for_object};
use crate::sys::{Handle, attributes_ptr, opened};
use crate::{Options, OsError, SharedMemoryError};

pub(super) struct Mutex(Handle);

// SAFETY: a mutex handle may be used and closed from any thread; the lock itself is
// released only by the guard, which stays on the locking thread.
unsafe impl Send for Mutex {}

impl Mutex {
    pub(super) fn open(name: &RegionName, options: &Options) -> Result<Self, SharedMemoryError> {
        let access = create_access(name, options)?;
        let attributes = access.attributes();
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; the attributes, if
        // any, point into `access`, which outlives the call; not initially owned; only the
        // rights to wait and release, which a mutex others secured may still grant.
        let handle = opened(unsafe {
            CreateMutexExW(
                attributes_ptr(attributes.as_ref()),
                name.encoded().as_ptr(),
                0,
                SYNCHRONIZATION_SYNCHRONIZE | MUTEX_MODIFY_STATE,
            )
        })
        .map_err(|source| SharedMemoryError::Synchronization {
            name: name.as_str().to_owned(),
            call: "CreateMutexExW",
            source,
        })?;
        Ok(Self(handle))
    }

    pub(super) fn lock(&self, timeout: Option<Duration>) -> Result<Acquired, Failure> {
        match wait_for_object(self.0.raw(), timeout) {
            WAIT_OBJECT_0 => Ok(Acquired::Locked),
            WAIT_ABANDONED => Ok(Acquired::OwnerDied),
            WAIT_TIMEOUT => Ok(Acquired::TimedOut),
            _ => Err(Failure::Os("WaitForSingleObject", OsError::from_thread())),
        }
    }

    pub(super) fn unlock(&self) {
        // SAFETY: called by the guard, on the thread that holds the mutex. Releasing a
        // mutex one holds cannot fail.
        let _ = unsafe { ReleaseMutex(self.0.raw()) };
    }
}
