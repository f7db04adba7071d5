//! Sections backed by a file of the Linux host's `/dev/shm`, for Windows programs under Wine
//! that share a region with native Linux programs
//! ([`Options::linux_host`](crate::Options::linux_host)).
//!
//! Wine reaches the host's files through drive `Z:`, so `Z:\dev\shm\x` is the POSIX shared
//! memory object `/x` that native programs of this crate map. A section made from that file
//! (`CreateFileMappingW(file, …, name)`) is named in the Wine prefix too, and its memory is the
//! file's, shared with every native process that maps it.
//!
//! Lifetime, the same protocol as the native side's (`sys/unix.rs`): every holder keeps a
//! shared lock on the file's first byte for as long as it holds the region. Wine implements `LockFileEx` with POSIX
//! record locks taken by `wineserver`, which conflict with the native side's open file
//! description locks, and `wineserver` drops a process's locks when it exits, however it
//! exits. A holder that leaves gives up its lock and then tries an exclusive one: if that
//! succeeds nobody else holds the file, and it removes the file's name if the crate made it. A
//! file under the name that nobody holds was left by crashed holders (stale): an opener removes
//! it and starts again. Files the crate made carry a mark every side can read and Windows can
//! set, and that no other user can forge: the DOS attributes `SYSTEM | HIDDEN` (which Wine
//! stores in the `user.DOSATTRIB` extended attribute; tmpfs keeps user extended attributes
//! since Linux 6.6) and an access time only the owner can set (`crate::boundary`).
//! Unmarked files are other programs': used as they are, never removed.

use std::ffi::c_void;

use windows_sys::Win32::Foundation::{
    ERROR_CANT_RESOLVE_FILENAME, ERROR_FILE_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_FILE_TOO_LARGE,
    ERROR_LOCK_VIOLATION, ERROR_PATH_NOT_FOUND, GENERIC_READ, GENERIC_WRITE, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, CREATE_NEW, CreateFileW, DELETE, FILE_ATTRIBUTE_HIDDEN,
    FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_SYSTEM, FILE_BASIC_INFO, FILE_CREATION_DISPOSITION,
    FILE_DISPOSITION_INFO, FILE_END_OF_FILE_INFO, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_INFO_BY_HANDLE_CLASS, FILE_NAME_NORMALIZED, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FileBasicInfo, FileDispositionInfo, FileEndOfFileInfo,
    GetFileInformationByHandle, GetFileInformationByHandleEx, GetFileSizeEx,
    GetFinalPathNameByHandleW, LOCK_FILE_FLAGS, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    LockFileEx, OPEN_EXISTING, SetFileInformationByHandle, UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::Sleep;
use windows_sys::core::{s, w};

use super::{Handle, OsError, host_error, is_win32, opened, succeeded};
use crate::boundary::{self, HOLDERS_BYTE};

/// The directory of the host's POSIX shared memory objects, as Windows programs under Wine
/// see it.
const HOST_SHM_DIR: &str = "Z:\\dev\\shm\\";

/// The DOS attributes of the mark (Wine keeps them in the `user.DOSATTRIB` extended
/// attribute), which the mark's access time completes (see `boundary`).
const MARK: u32 = FILE_ATTRIBUTE_SYSTEM | FILE_ATTRIBUTE_HIDDEN;
const _: () = assert!(MARK == boundary::MARK_ATTRIBUTES);

/// The flags of a shared lock (none: neither exclusive nor failing at once).
const SHARED: LOCK_FILE_FLAGS = 0;

/// How long a lock is retried while another holder briefly holds the file exclusively (it is
/// checking whether it is the last one, a few system calls): 2000 rounds of about 1 ms.
const LOCK_ROUNDS: u32 = 2000;

/// How often an open or create starts again after the file under the name was stale or
/// vanished; each round means another process removed the name in between.
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// Whether this process runs under Wine, whose `ntdll.dll` exports `wine_get_version`.
pub(crate) fn is_wine() -> bool {
    // SAFETY: a static, NUL-terminated module and symbol name; a module handle from
    // GetModuleHandleW needs no release, and the symbol is only looked up, never called.
    unsafe {
        let ntdll = GetModuleHandleW(w!("ntdll.dll"));
        !ntdll.is_null() && GetProcAddress(ntdll, s!("wine_get_version")).is_some()
    }
}

/// What opening the file under a name found.
pub(crate) enum Found {
    /// This process now holds the live file.
    Joined(HostFile),
    /// No file has the name.
    Missing,
    /// The file had no holder and was made by the crate: its name has been removed.
    Stale,
    /// The file lost its name while this process was joining it.
    Vanished,
}

/// A file of the host's `/dev/shm`, open and locked by this process as one of its holders.
#[derive(Debug)]
pub(crate) struct HostFile {
    handle: Handle,
    /// The file's path, NUL-terminated UTF-16.
    path: Vec<u16>,
    /// Whether the handle may lock the file exclusively and delete it: a handle opened for
    /// reading only takes read locks, which cannot tell whether others hold the file.
    deletable: bool,
}

impl HostFile {
    /// Makes a new file of `size` bytes under `name` (a [`windows_file_name`](crate::boundary::windows_file_name)), held and marked;
    /// `None` if a file has the name.
    pub(crate) fn create(name: &str, size: u64) -> Result<Option<Self>, OsError> {
        let path = path(name);
        let handle = match open_file(&path, true, CREATE_NEW) {
            Ok(handle) => handle,
            Err(error) if is_win32(&error, ERROR_FILE_EXISTS) => return Ok(None),
            Err(error) => return Err(error),
        };
        let file = Self {
            handle,
            path,
            deletable: true,
        };
        // Locked before it is marked: a native opener takes a marked file nobody holds for a
        // crashed holder's, and removes it.
        let made = file
            .lock(SHARED)
            .and_then(|()| file.set_size(size))
            .and_then(|()| file.mark());
        match made {
            Ok(()) => Ok(Some(file)),
            Err(error) => {
                // The half-made file is this process's alone: remove it. Its drop would not, as
                // it is not marked yet.
                file.delete_on_close();
                Err(error)
            }
        }
    }

    /// Opens and joins the file under `name` (a [`windows_file_name`](crate::boundary::windows_file_name)).
    pub(crate) fn open(name: &str, writable: bool) -> Result<Found, OsError> {
        let path = path(name);
        // Read-write when possible, so that the handle can check for other holders.
        let opened = match open_file(&path, true, OPEN_EXISTING) {
            Err(error) if !writable && !is_win32(&error, ERROR_FILE_NOT_FOUND) => {
                open_file(&path, false, OPEN_EXISTING).map(|handle| (handle, false))
            }
            other => other.map(|handle| (handle, true)),
        };
        let (handle, deletable) = match opened {
            Ok(opened) => opened,
            Err(error)
                if is_win32(&error, ERROR_FILE_NOT_FOUND)
                    || is_win32(&error, ERROR_PATH_NOT_FOUND) =>
            {
                return Ok(Found::Missing);
            }
            Err(error) => return Err(error),
        };
        // Wine follows a symbolic link under the name (where the kernel's protected_symlinks
        // does not stop it): another user's link would hand this process their target.
        check_not_a_link(&handle, name)?;
        let file = Self {
            handle,
            path,
            deletable,
        };
        if file.deletable && file.try_lock_exclusive()? {
            if file.is_marked()? {
                // Nobody holds it and the crate made it: crashed holders left it.
                if file.is_named()? {
                    file.delete_on_close();
                }
                return Ok(Found::Stale);
            }
            // Another program's file: joined as it is, its maker decides its lifetime.
            file.unlock()?;
        }
        file.lock(SHARED)?;
        if !file.is_named()? {
            return Ok(Found::Vanished);
        }
        Ok(Found::Joined(file))
    }

    /// The handle a section is made from.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The file's size in bytes, exact.
    pub(crate) fn size(&self) -> Result<u64, OsError> {
        let mut size = 0_i64;
        // SAFETY: an open file handle and a valid out pointer.
        succeeded(unsafe { GetFileSizeEx(self.handle.raw(), &mut size) })?;
        // A size is never negative; the conversion only satisfies the type.
        Ok(u64::try_from(size).unwrap_or(0))
    }

    fn set_size(&self, size: u64) -> Result<(), OsError> {
        let end = FILE_END_OF_FILE_INFO {
            EndOfFile: i64::try_from(size).map_err(|_| host_error(ERROR_FILE_TOO_LARGE))?,
        };
        self.set_information(FileEndOfFileInfo, &end)
    }

    /// Sets the mark: the DOS attributes and the access time, which only the file's
    /// owner can set to a chosen value.
    fn mark(&self) -> Result<(), OsError> {
        let basic = FILE_BASIC_INFO {
            FileAttributes: MARK,
            LastAccessTime: boundary::MARK_ACCESSED.file_time(),
            ..Default::default()
        };
        self.set_information(FileBasicInfo, &basic)
    }

    fn set_information<T>(
        &self,
        class: FILE_INFO_BY_HANDLE_CLASS,
        information: &T,
    ) -> Result<(), OsError> {
        // SAFETY: an open file handle; `information` is the structure the class names, of the
        // size passed (all of them are a few dozen bytes).
        succeeded(unsafe {
            SetFileInformationByHandle(
                self.handle.raw(),
                class,
                std::ptr::from_ref(information).cast::<c_void>(),
                size_of::<T>() as u32,
            )
        })
    }

    /// Whether the crate made the file.
    fn is_marked(&self) -> Result<bool, OsError> {
        let mut basic = FILE_BASIC_INFO::default();
        // SAFETY: an open file handle; the buffer is the FILE_BASIC_INFO the class names.
        succeeded(unsafe {
            GetFileInformationByHandleEx(
                self.handle.raw(),
                FileBasicInfo,
                (&raw mut basic).cast(),
                size_of::<FILE_BASIC_INFO>() as u32,
            )
        })?;
        let accessed = boundary::FileTime::from_file_time(basic.LastAccessTime);
        Ok(boundary::is_marked(basic.FileAttributes, accessed))
    }

    /// Whether the path still names this file.
    fn is_named(&self) -> Result<bool, OsError> {
        // No access asked: the second handle only identifies the file the path names now.
        // SAFETY: a NUL-terminated path that outlives the call.
        let named = match opened(unsafe {
            CreateFileW(
                self.path.as_ptr(),
                0,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL,
                std::ptr::null_mut(),
            )
        }) {
            Ok(handle) => handle,
            Err(error) if is_win32(&error, ERROR_FILE_NOT_FOUND) => return Ok(false),
            Err(error) => return Err(error),
        };
        Ok(identity(named.raw())? == identity(self.handle.raw())?)
    }

    /// Takes a lock on byte 0 (`flags`: exclusive or not), retrying while another
    /// holder holds it exclusively for a moment.
    fn lock(&self, flags: LOCK_FILE_FLAGS) -> Result<(), OsError> {
        for _ in 0..LOCK_ROUNDS {
            match lock_byte(
                &self.handle,
                HOLDERS_BYTE,
                flags | LOCKFILE_FAIL_IMMEDIATELY,
            ) {
                Err(error) if is_win32(&error, ERROR_LOCK_VIOLATION) => {
                    // SAFETY: a plain sleep.
                    unsafe { Sleep(1) }
                }
                other => return other,
            }
        }
        Err(host_error(ERROR_LOCK_VIOLATION))
    }

    /// Tries once to lock byte 0 exclusively: whether nobody else holds the file.
    fn try_lock_exclusive(&self) -> Result<bool, OsError> {
        try_lock_byte(&self.handle, HOLDERS_BYTE, true)
    }

    fn unlock(&self) -> Result<(), OsError> {
        unlock_byte(&self.handle, HOLDERS_BYTE)
    }

    /// This file joined again by this process, as another holder with an open of its own, whose
    /// locks are its own (Windows, and wineserver, keep locks per open file); `None` when the
    /// path no longer names this file. Opened by the path, as Wine 8's `ReOpenFile` is a stub
    /// that fails.
    pub(crate) fn join_again(&self) -> Result<Option<Self>, OsError> {
        let handle = match open_file(&self.path, true, OPEN_EXISTING) {
            Ok(handle) => handle,
            Err(error) if is_win32(&error, ERROR_FILE_NOT_FOUND) => return Ok(None),
            Err(error) => return Err(error),
        };
        // The same file, whatever link the path went through.
        if identity(handle.raw())? != identity(self.handle.raw())? {
            return Ok(None);
        }
        let again = Self {
            handle,
            path: self.path.clone(),
            deletable: true,
        };
        // At once: this holder's shared lock keeps leavers from locking the file exclusively.
        again.lock(SHARED)?;
        Ok(Some(again))
    }

    /// Removes the file's name when the last Windows handle of it is closed (Wine has no
    /// immediate POSIX-style delete); it checks then that the name still names this file.
    fn delete_on_close(&self) {
        let delete = FILE_DISPOSITION_INFO { DeleteFile: true };
        let _ = self.set_information(FileDispositionInfo, &delete);
    }
}

impl Drop for HostFile {
    /// Lets go of the file; the last holder of a file the crate made removes its name.
    fn drop(&mut self) {
        // Given up before the exclusive try, so that of two holders leaving at once the later
        // one finds the other gone (a lock conversion would leave both finding the other).
        let last = self.deletable
            && self.unlock().is_ok()
            && self.try_lock_exclusive().unwrap_or(false)
            && self.is_marked().unwrap_or(false)
            && self.is_named().unwrap_or(false);
        if last {
            self.delete_on_close();
        }
        // The handle closes after this, as fields drop after `drop`, and its locks with it.
    }
}

/// Tries once to lock byte `byte` of `file` (exclusively or not): `false` when another open
/// file holds a lock that conflicts, a native process's open-file-description lock included.
pub(crate) fn try_lock_byte(file: &Handle, byte: u32, exclusive: bool) -> Result<bool, OsError> {
    let kind = if exclusive {
        LOCKFILE_EXCLUSIVE_LOCK
    } else {
        SHARED
    };
    match lock_byte(file, byte, kind | LOCKFILE_FAIL_IMMEDIATELY) {
        Ok(()) => Ok(true),
        Err(error) if is_win32(&error, ERROR_LOCK_VIOLATION) => Ok(false),
        Err(error) => Err(error),
    }
}

fn lock_byte(file: &Handle, byte: u32, flags: LOCK_FILE_FLAGS) -> Result<(), OsError> {
    let mut overlapped = at_byte(byte);
    // SAFETY: an open file handle, not opened for overlapped I/O, so the call completes before
    // it returns and `overlapped` (the offset) outlives it. The range is one byte of the
    // protocol's, which Wine turns into a POSIX lock of that byte.
    succeeded(unsafe { LockFileEx(file.raw(), flags, 0, 1, 0, &mut overlapped) })
}

/// Lets go of `file`'s lock on byte `byte`.
pub(crate) fn unlock_byte(file: &Handle, byte: u32) -> Result<(), OsError> {
    let mut overlapped = at_byte(byte);
    // SAFETY: as in `lock_byte`, for the range locked there.
    succeeded(unsafe { UnlockFileEx(file.raw(), 0, 1, 0, &mut overlapped) })
}

/// The OVERLAPPED of a synchronous call at byte `byte`: that offset, no event.
fn at_byte(byte: u32) -> OVERLAPPED {
    // SAFETY: integers, a union of integers and a pointer, all of which are valid zero.
    let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
    overlapped.Anonymous.Anonymous.Offset = byte;
    overlapped
}

/// `Z:\dev\shm\<name>`, NUL-terminated UTF-16.
fn path(name: &str) -> Vec<u16> {
    HOST_SHM_DIR
        .encode_utf16()
        .chain(name.encode_utf16())
        .chain([0])
        .collect()
}

/// Refuses a file that the name reached through a symbolic link (`ERROR_CANT_RESOLVE_FILENAME`,
/// Windows' word for too many links): its final path, as Wine resolves it, must be that of the
/// shared memory directory (itself perhaps a link, as `/dev/shm` to `/run/shm` is on some
/// systems), then the name.
fn check_not_a_link(file: &Handle, name: &str) -> Result<(), OsError> {
    let directory: Vec<u16> = HOST_SHM_DIR.encode_utf16().chain([0]).collect();
    // SAFETY: a NUL-terminated path that outlives the call; no access asked, only a handle to
    // name the directory (backup semantics open directories).
    let directory = opened(unsafe {
        CreateFileW(
            directory.as_ptr(),
            0,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_BACKUP_SEMANTICS,
            std::ptr::null_mut(),
        )
    })?;
    let mut expected = final_path(&directory)?;
    if expected.last() != Some(&u16::from(b'\\')) {
        expected.push(u16::from(b'\\'));
    }
    expected.extend(name.encode_utf16());
    if final_path(file)? == expected {
        Ok(())
    } else {
        Err(host_error(ERROR_CANT_RESOLVE_FILENAME))
    }
}

/// The final path of an open file or directory, symbolic links followed (`\\?\Z:\…` under
/// Wine).
fn final_path(file: &Handle) -> Result<Vec<u16>, OsError> {
    let mut path = vec![0_u16; 512];
    loop {
        let capacity = u32::try_from(path.len()).unwrap_or(u32::MAX);
        // SAFETY: an open handle; the buffer is writable for `capacity` characters.
        let length = unsafe {
            GetFinalPathNameByHandleW(
                file.raw(),
                path.as_mut_ptr(),
                capacity,
                FILE_NAME_NORMALIZED,
            )
        } as usize;
        if length == 0 {
            return Err(OsError::from_thread());
        }
        if length < path.len() {
            path.truncate(length);
            return Ok(path);
        }
        // Too small: `length` is the size it needs, the terminating NUL included.
        path.resize(length + 1, 0);
    }
}

/// Opens `path` for reading (and writing and deleting), shared with every other opener.
fn open_file(
    path: &[u16],
    writable: bool,
    disposition: FILE_CREATION_DISPOSITION,
) -> Result<Handle, OsError> {
    let access = if writable {
        GENERIC_READ | GENERIC_WRITE | DELETE
    } else {
        GENERIC_READ
    };
    // SAFETY: a NUL-terminated path that outlives the call; the handle is not inherited.
    opened(unsafe {
        CreateFileW(
            path.as_ptr(),
            access,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            disposition,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    })
}

/// What identifies a file: its volume and index (Wine: the device and inode).
fn identity(handle: HANDLE) -> Result<(u32, u32, u32), OsError> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: an open file handle and a valid out pointer.
    succeeded(unsafe { GetFileInformationByHandle(handle, &mut info) })?;
    Ok((
        info.dwVolumeSerialNumber,
        info.nFileIndexHigh,
        info.nFileIndexLow,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Wine: the file is there while either handle of this process holds it, and goes
    /// with the last; on Windows the option is refused.
    #[test]
    fn the_file_goes_with_the_last_holder_or_the_option_is_refused() {
        use crate::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};
        let name = format!("Local\\wsm_host_unit_{}", std::process::id());
        let options = Options::new().linux_host(true);
        let created = SharedMemory::<ReadWrite>::create_with(&name, 100, &options);
        if !is_wine() {
            assert!(matches!(
                created,
                Err(SharedMemoryError::InvalidOptions { .. })
            ));
            return;
        }
        let file = format!(
            "{HOST_SHM_DIR}{}",
            boundary::windows_file_name(&name).unwrap()
        );
        let exists = || std::path::Path::new(&file).exists();
        let first = created.unwrap();
        let second = SharedMemory::<ReadOnly>::open_with(&name, &options).unwrap();
        assert_eq!((first.len(), second.len()), (100, 100));
        drop(first);
        assert!(exists(), "{file} went with the first of two holders");
        drop(second);
        assert!(!exists(), "{file} outlived its last holder");
        assert!(SharedMemory::<ReadOnly>::open_with(&name, &options).is_err());
    }
}
