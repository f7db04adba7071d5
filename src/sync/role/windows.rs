//! The writer role on Windows: a named mutex `<name>#writer`, owned by the thread that took the
//! role; Windows releases it (abandoned) when that thread's process dies. Whether it is held is
//! asked of the mutex's state, never by taking it: a probe that owned it for a moment would
//! refuse a writer's take meanwhile, and tell another probe that a writer lives.

use std::cell::RefCell;
use std::ffi::c_void;

use windows_sys::Win32::Foundation::{
    HANDLE, NTSTATUS, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    CreateMutexExW, MUTEX_MODIFY_STATE, OpenMutexW, ReleaseMutex, SYNCHRONIZATION_SYNCHRONIZE,
};

use crate::sync::Failure;
use crate::sync::win32::wait_for_object;
use crate::sys::{Handle, nt_error, opened};
use crate::{Access, OsError, ReadWrite, SharedMemory};

/// `MUTANT_INFORMATION_CLASS::MutantBasicInformation`.
const MUTANT_BASIC_INFORMATION_CLASS: u32 = 0;

/// `MUTANT_BASIC_INFORMATION`, the answer of `NtQueryMutant` for class 0.
#[repr(C)]
struct MutantBasicInformation {
    /// 1 while no thread owns the mutex (after its owner died too), 0 or less while one does.
    current_count: i32,
    owned_by_caller: u8,
    abandoned_state: u8,
}

windows_link::link!("ntdll.dll" "system" fn NtQueryMutant(
    mutant: HANDLE,
    class: u32,
    information: *mut c_void,
    information_len: u32,
    return_len: *mut u32
) -> NTSTATUS);

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
    // SAFETY: as in `take`; opening, never creating, so that a probe leaves nothing behind;
    // the right to query the state (`MUTANT_QUERY_STATE` is `MUTEX_MODIFY_STATE`).
    let mutex = match opened(unsafe { OpenMutexW(MUTEX_MODIFY_STATE, 0, name.as_ptr()) }) {
        Ok(mutex) => mutex,
        Err(error) if crate::sys::error_kind(&error) == std::io::ErrorKind::NotFound => {
            return Ok(false);
        }
        Err(error) => return Err(Failure::Os("OpenMutexW", error)),
    };
    let mut info = MutantBasicInformation {
        current_count: 0,
        owned_by_caller: 0,
        abandoned_state: 0,
    };
    // SAFETY: the handle is open with the right to query the state; the buffer is a
    // MUTANT_BASIC_INFORMATION of the length passed.
    let status = unsafe {
        NtQueryMutant(
            mutex.raw(),
            MUTANT_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<MutantBasicInformation>() as u32,
            std::ptr::null_mut(),
        )
    };
    if status < 0 {
        return Err(Failure::Os("NtQueryMutant", nt_error(status)));
    }
    Ok(info.current_count <= 0)
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD_HERE.with_borrow_mut(|held| held.retain(|name| *name != self.name));
        // SAFETY: the role stays on the thread that took it (it is not `Send`), which owns the
        // mutex; releasing a mutex one owns cannot fail.
        unsafe { ReleaseMutex(self.mutex.raw()) };
    }
}
