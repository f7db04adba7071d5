//! The writer role on Windows: a named mutex `<name>#writer`, owned by the thread that took the
//! role; Windows releases it (abandoned) when that thread's process dies. Whether it is held is
//! asked of the mutex's state, never by taking it: a probe that owned it for a moment would
//! refuse a writer's take meanwhile, and tell another probe that a writer lives.
//!
//! Under Wine, a region backed by a file of the Linux host
//! ([`Options::linux_host`](crate::Options::linux_host)) also has its role as the native side
//! keeps it: an exclusive `LockFileEx` of the file's role byte ([`WRITER_ROLE_BYTE`]), which
//! wineserver holds as a POSIX write lock of that byte. Native processes' open file description
//! locks conflict with it both ways, and wineserver drops it when the Windows process ends,
//! however it ends. The mutex stays, for Windows programs that open the region by its name
//! alone: the role is taken only if both are, and is held while either is.

use std::cell::RefCell;
use std::ffi::c_void;

use windows_sys::Win32::Foundation::{
    HANDLE, NTSTATUS, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    CreateMutexExW, MUTEX_MODIFY_STATE, OpenMutexW, ReleaseMutex, SYNCHRONIZATION_SYNCHRONIZE,
};

use crate::boundary::WRITER_ROLE_BYTE;
use crate::sync::Failure;
use crate::sync::win32::wait_for_object;
use crate::sys::{Handle, HostFile, nt_error, opened, try_lock_byte, unlock_byte};
use crate::{Access, OsError, ReadWrite, SharedMemory};

/// The calls that the role's errors on a host file name.
const OPEN_CALL: &str = "CreateFileW";
const LOCK_CALL: &str = "LockFileEx";

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
    /// are recursive), so a second take by their own thread must be refused here.
    static HELD_HERE: RefCell<Vec<Vec<u16>>> = const { RefCell::new(Vec::new()) };
}

/// The role, held: the mutex, owned by the thread that took it, and on a host file the lock
/// of its role byte.
pub(super) struct Held {
    _mutex: OwnedMutex,
    _file_lock: Option<FileLock>,
}

/// The mutex of a role, owned by this thread until dropped.
struct OwnedMutex {
    mutex: Handle,
    name: Vec<u16>,
}

/// The exclusive lock of a host file's role byte, through a holder of the file of the role's
/// own ([`HostFile::join_again`]), so the file stays while the role does. Not through the
/// region's open file: wineserver would grant a probe through it a shared lock over the
/// exclusive one (and turn its POSIX lock of the byte shared). Nor through an open that holds
/// no share: the region's last holder could leave while the role lives, and wineserver, closing
/// an open file whose only lock is the one byte at offset 0, skips the POSIX unlock and relies
/// on closing the descriptor, which it defers while the file has other locks: the leaver's
/// exclusive lock would stay, and native opens wait, for as long as the role.
struct FileLock(HostFile);

/// `<name>#writer`, NUL-terminated UTF-16.
fn mutex_name<A: Access>(region: &SharedMemory<A>) -> Vec<u16> {
    format!("{}#writer", region.name())
        .encode_utf16()
        .chain([0])
        .collect()
}

/// Takes the role; `None` when a live thread, or a native process, holds it.
pub(super) fn take(region: &SharedMemory<ReadWrite>) -> Result<Option<Held>, Failure> {
    let Some(mutex) = take_mutex(region)? else {
        return Ok(None);
    };
    // The mutex first: of two Windows takers, the one refused there never touches the file.
    // Refused at the file, `mutex` drops and is released: all or nothing.
    let file_lock = match region.mapping().host_file() {
        None => None,
        Some(file) => {
            let holder = file
                .join_again()
                .map_err(|error| Failure::Os(OPEN_CALL, error))?
                .ok_or(Failure::Refused(
                    OPEN_CALL,
                    "the region's file in /dev/shm no longer has the region's name",
                ))?;
            match try_lock_byte(holder.handle(), WRITER_ROLE_BYTE, true) {
                Ok(true) => Some(FileLock(holder)),
                Ok(false) => return Ok(None),
                Err(error) => return Err(Failure::Os(LOCK_CALL, error)),
            }
        }
    };
    Ok(Some(Held {
        _mutex: mutex,
        _file_lock: file_lock,
    }))
}

/// Takes the role's mutex; `None` when a live thread holds it.
fn take_mutex(region: &SharedMemory<ReadWrite>) -> Result<Option<OwnedMutex>, Failure> {
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
            Ok(Some(OwnedMutex { mutex, name }))
        }
        WAIT_TIMEOUT => Ok(None),
        _ => Err(Failure::Os("WaitForSingleObject", OsError::from_thread())),
    }
}

/// Whether a live thread (of this process too), or a native process, holds the role.
pub(super) fn held_by_anyone<A: Access>(region: &SharedMemory<A>) -> Result<bool, Failure> {
    if mutex_held(region)? {
        return Ok(true);
    }
    let Some(file) = region.mapping().host_file() else {
        return Ok(false);
    };
    // A shared lock is refused while anyone holds the exclusive one (roles lock through opens of
    // their own, never the region's); granted, it is let go at once (a taker in between is
    // refused, as it is by the mutex's probe).
    match try_lock_byte(file.handle(), WRITER_ROLE_BYTE, false) {
        // Its unlock must not fail unseen: the region's file would keep the shared lock and
        // refuse every writer for as long as this region is open.
        Ok(true) => unlock_byte(file.handle(), WRITER_ROLE_BYTE)
            .map(|()| false)
            .map_err(|error| Failure::Os("UnlockFileEx", error)),
        Ok(false) => Ok(true),
        Err(error) => Err(Failure::Os(LOCK_CALL, error)),
    }
}

/// Whether a live thread (of this process too) holds the role's mutex.
fn mutex_held<A: Access>(region: &SharedMemory<A>) -> Result<bool, Failure> {
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

impl Drop for OwnedMutex {
    fn drop(&mut self) {
        HELD_HERE.with_borrow_mut(|held| held.retain(|name| *name != self.name));
        // SAFETY: the role stays on the thread that took it (it is not `Send`), which owns the
        // mutex; releasing a mutex one owns cannot fail.
        unsafe { ReleaseMutex(self.mutex.raw()) };
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Before the holder leaves (its drop comes after this), so that a last holder's check
        // for others finds no lock of this process's left.
        let _ = unlock_byte(self.0.handle(), WRITER_ROLE_BYTE);
    }
}
