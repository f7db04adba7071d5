//! A Win32 named event.

use std::time::Duration;

use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CREATE_EVENT_MANUAL_RESET, CreateEventExW, EVENT_MODIFY_STATE, OpenEventW, ResetEvent,
    SYNCHRONIZATION_SYNCHRONIZE, SetEvent,
};

use super::EventReset;
use crate::name::RegionName;
use crate::sync::Failure;
use crate::sync::win32::{create_access, wait_for_object};
use crate::sys::{Handle, attributes_ptr, opened, succeeded};
use crate::{Options, OsError, SharedMemoryError};

pub(super) struct Event(Handle);

// SAFETY: an event handle may be used and closed from any thread.
unsafe impl Send for Event {}
// SAFETY: setting, resetting and waiting are thread-safe kernel calls.
unsafe impl Sync for Event {}

/// The rights a handle needs: to wait, and to set and reset.
const RIGHTS: u32 = SYNCHRONIZATION_SYNCHRONIZE | EVENT_MODIFY_STATE;

impl Event {
    pub(super) fn open_or_create(
        name: &RegionName,
        reset: EventReset,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let access = create_access(name, options)?;
        let attributes = access.attributes();
        let flags = match reset {
            EventReset::Manual => CREATE_EVENT_MANUAL_RESET,
            EventReset::Auto => 0,
        };
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; the attributes, if
        // any, point into `access`, which outlives the call; created unset.
        let handle = opened(unsafe {
            CreateEventExW(
                attributes_ptr(attributes.as_ref()),
                name.encoded().as_ptr(),
                flags,
                RIGHTS,
            )
        });
        Self::opened(handle, name, "CreateEventExW")
    }

    pub(super) fn open(name: &RegionName, options: &Options) -> Result<Self, SharedMemoryError> {
        options.check(name)?;
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; not inherited.
        let handle = opened(unsafe { OpenEventW(RIGHTS, 0, name.encoded().as_ptr()) });
        Self::opened(handle, name, "OpenEventW")
    }

    fn opened(
        handle: Result<Handle, OsError>,
        name: &RegionName,
        call: &'static str,
    ) -> Result<Self, SharedMemoryError> {
        handle
            .map(Self)
            .map_err(|source| SharedMemoryError::Synchronization {
                name: name.as_str().to_owned(),
                call,
                source,
            })
    }

    pub(super) fn set(&self) -> Result<(), Failure> {
        // SAFETY: the handle is an open event.
        succeeded(unsafe { SetEvent(self.0.raw()) }).map_err(|error| Failure::Os("SetEvent", error))
    }

    pub(super) fn reset(&self) -> Result<(), Failure> {
        // SAFETY: the handle is an open event.
        succeeded(unsafe { ResetEvent(self.0.raw()) })
            .map_err(|error| Failure::Os("ResetEvent", error))
    }

    pub(super) fn wait(&self, timeout: Option<Duration>) -> Result<bool, Failure> {
        match wait_for_object(self.0.raw(), timeout) {
            WAIT_OBJECT_0 => Ok(true),
            WAIT_TIMEOUT => Ok(false),
            _ => Err(Failure::Os("WaitForSingleObject", OsError::from_thread())),
        }
    }
}
