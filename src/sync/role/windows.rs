//! The writer role on Windows: a named mutex `<name>#writer`, owned by the thread that took the
//! role; Windows releases it (abandoned) when that thread's process dies.

use std::cell::RefCell;

use windows_sys::Win32::Foundation::{WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateMutexExW, MUTEX_MODIFY_STATE, OpenMutexW, ReleaseMutex, SYNCHRONIZATION_SYNCHRONIZE,
};

use crate::sync::Failure;
use crate::sync::win32::wait_for_object;
use crate::sys::{Handle, opened};
use crate::{Access, OsError, ReadWrite, SharedMemory};

thread_local! {
    /// The mutexes of the roles this thread holds: a wait on a mutex one owns succeeds (they
    /// are recursive), so a probe by their own thread must not ask the mutex.
    static HELD_HERE: RefCell<Vec<Vec<u16>>> = const { RefCell::new(Vec::new()) };
}

/// The role, held: the mutex, owned by the thread that took it.
pub(super) struct Held {
    mutex: Handle,
    name: Vec<u16>,
}

/// `<name>#writer`, NUL-terminated UTF-16.
fn mutex_name<A: Access>(region: &SharedMemory<A>) -> Vec<u16> {
    format!("{}#writer", region.name())
        .encode_utf16()
        .chain([0])
        .collect()
}

/// Takes the role; `None` when a live thread holds it.
pub(super) fn take(region: &SharedMemory<ReadWrite>) -> Result<Option<Held>, Failure> {
    let name = mutex_name(region);
    if HELD_HERE.with_borrow(|held| held.contains(&name)) {
        return Ok(None);
    }
    // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; default security; not
    // initially owned; the rights to wait and release.
    let mutex = opened(unsafe {
        CreateMutexExW(
            std::ptr::null(),
            name.as_ptr(),
            0,
            SYNCHRONIZATION_SYNCHRONIZE | MUTEX_MODIFY_STATE,
        )
    })
    .map_err(|error| Failure::Os("CreateMutexExW", error))?;
    match wait_for_object(mutex.raw(), Some(std::time::Duration::ZERO)) {
        // Abandoned: its holder died, which the role's next writes repair.
        WAIT_OBJECT_0 | WAIT_ABANDONED => {
            HELD_HERE.with_borrow_mut(|held| held.push(name.clone()));
            Ok(Some(Held { mutex, name }))
        }
        WAIT_TIMEOUT => Ok(None),
        _ => Err(Failure::Os("WaitForSingleObject", OsError::from_thread())),
    }
}

/// Whether a live thread (of this process too) holds the role.
pub(super) fn held_by_anyone<A: Access>(region: &SharedMemory<A>) -> Result<bool, Failure> {
    let name = mutex_name(region);
    if HELD_HERE.with_borrow(|held| held.contains(&name)) {
        return Ok(true);
    }
    // SAFETY: as in `take`; opening, never creating, so that a probe leaves nothing behind.
    let mutex = match opened(unsafe {
        OpenMutexW(
            SYNCHRONIZATION_SYNCHRONIZE | MUTEX_MODIFY_STATE,
            0,
            name.as_ptr(),
        )
    }) {
        Ok(mutex) => mutex,
        Err(error) if crate::sys::error_kind(&error) == std::io::ErrorKind::NotFound => {
            return Ok(false);
        }
        Err(error) => return Err(Failure::Os("OpenMutexW", error)),
    };
    match wait_for_object(mutex.raw(), Some(std::time::Duration::ZERO)) {
        WAIT_TIMEOUT => Ok(true),
        WAIT_OBJECT_0 | WAIT_ABANDONED => {
            // SAFETY: this thread owns the mutex it has just acquired.
            unsafe { ReleaseMutex(mutex.raw()) };
            Ok(false)
        }
        _ => Err(Failure::Os("WaitForSingleObject", OsError::from_thread())),
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD_HERE.with_borrow_mut(|held| held.retain(|name| *name != self.name));
        // SAFETY: the role stays on the thread that took it (it is not `Send`), which owns the
        // mutex; releasing a mutex one owns cannot fail.
        unsafe { ReleaseMutex(self.mutex.raw()) };
    }
}
