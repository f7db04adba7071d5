//! Sections backed by a `/dev/shm` file that a native reader made before the bridge started.
//!
//! Overlays such as TinyPedal map `/dev/shm/<name>` themselves, take no lock, and create the
//! file, empty, when it is missing: started before the bridge (their usual order), they leave
//! an empty file under the name. The bridge adopts such a file instead of refusing it: it grows
//! the file to the section's size and makes the named section of the prefix from it, so the
//! game's writes land in the very file the reader has open. The file stays the reader's: the
//! bridge holds a shared lock on its first byte while it runs (as every holder of this crate
//! does), never removes it, and marks it as adopted (an access time only its owner can set),
//! so that the next bridge adopts it again although it now holds the last game's data: a
//! reader that stays across game sessions keeps its mapping, as on Windows.
//!
//! A file is adopted only when it is the reader's kind and nothing of anyone else's is at
//! stake: a regular file with one link, empty or adopted before, owned by this user (Wine
//! shows another user's file with another owner), without the crate's mark (`HIDDEN |
//! SYSTEM`), held by no holder of this crate (no lock on its first byte), and
//! `/dev/shm/<name>` itself, not a file elsewhere that a symbolic link under the name leads to
//! (Wine 8 follows links when it opens a file and shows none as a reparse point; the handle's
//! final path, which Wine resolves, tells).

use std::ffi::c_void;
use std::mem::{size_of, zeroed};
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, FILETIME, GENERIC_READ, GENERIC_WRITE,
    GetLastError, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
use windows_sys::Win32::Security::{
    EqualSid, GetTokenInformation, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, CreateFileW, DELETE, FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_SYSTEM, FILE_BASIC_INFO,
    FILE_DISPOSITION_INFO, FILE_END_OF_FILE_INFO, FILE_NAME_NORMALIZED, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_TYPE_DISK, FileBasicInfo, FileDispositionInfo,
    FileEndOfFileInfo, GetFileInformationByHandle, GetFileType, GetFinalPathNameByHandleW,
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, OPEN_EXISTING,
    SetFileInformationByHandle, SetFileTime, UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::Memory::{CreateFileMappingW, PAGE_READWRITE};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// The host's `/dev/shm` as Windows programs under Wine see it.
const HOST_SHM_DIR: &str = "Z:\\dev\\shm\\";

/// The DOS attributes of the crate's mark.
const MARK: u32 = FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM;

/// The last-access time an adopted file gets: 2100-01-01 00:00:00.0271828 UTC, as a Windows
/// file time (100 ns units since 1601). Only the file's owner can set a chosen time, and
/// `/dev/shm`'s `relatime` leaves an access time in the future alone (as with the crate's
/// mark, whose time differs), so a later bridge knows the file it adopts again: a reader that
/// stays across game sessions keeps its file, now holding the last game's data.
const ADOPTED_ACCESS: u64 = 157_469_184_000_000_000 + 271_828;

/// The last-access time of a file the bridge made and kept at its end because a native reader
/// without this crate's lock still mapped it (2100-01-01 00:00:00.0161803 UTC): adopted again
/// by the next bridge, and removed by a bridge that ends when no native program maps it.
const KEPT_ACCESS: u64 = 157_469_184_000_000_000 + 161_803;

/// A handle, closed when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by this value alone.
        unsafe { CloseHandle(self.0) };
    }
}

/// An adopted file and the prefix's section made from it (none when the game's section has
/// the name, and the bridge maps the file itself to copy the game's data in), held until
/// dropped.
pub struct Adopted {
    // Dropped in this order: the section, then the file (whose close drops the lock).
    section: Option<Owned>,
    file: Owned,
    /// The bridge made it and kept it for a reader (rather than a reader made it).
    kept: bool,
    file_name: String,
    inode: u64,
}

impl Adopted {
    /// Whether this is the file `/dev/shm/<file_name>`.
    pub fn is(&self, file_name: &str) -> bool {
        self.file_name == file_name
    }

    /// Whether `/dev/shm/<file_name>` is still this file (not another one renamed over it).
    pub fn still_named(&self) -> bool {
        is_named(&self.file_name, self.inode)
    }

    /// Lets go of the file at the bridge's end: a file a bridge made and kept for a reader is
    /// removed once no native program maps it; a reader's own file is left to it.
    pub fn leave(self) -> Result<(), String> {
        let Self {
            section,
            file,
            kept,
            file_name,
            inode,
        } = self;
        // Wine refuses to delete a file that a section is made from.
        drop(section);
        if !kept || crate::readers::lockless_native_reader(&file_name, inode) {
            return Ok(());
        }
        if !is_named(&file_name, inode) {
            return Ok(());
        }
        let delete = FILE_DISPOSITION_INFO { DeleteFile: true };
        // SAFETY: the handle is open with DELETE access; `delete` is the structure of the
        // class and lives through the call.
        let done = unsafe {
            SetFileInformationByHandle(
                file.0,
                FileDispositionInfo,
                (&raw const delete).cast::<c_void>(),
                size_of::<FILE_DISPOSITION_INFO>() as u32,
            )
        };
        if done == 0 {
            return Err(format!(
                "cannot remove /dev/shm/{file_name} ({})",
                last_error()
            ));
        }
        Ok(())
    }
}

/// Keeps a file the bridge made under `/dev/shm/<file_name>` when a native reader without
/// this crate's lock still maps it: its mark is replaced with the kept one, so that the
/// crate's holders leave it, and the next bridge adopts it. Whether it was kept.
pub fn keep_if_read(file_name: &str) -> Result<bool, String> {
    let Some(file) = open_host_file(file_name)? else {
        return Ok(false);
    };
    let (inode, _) = file_identity(&file)?;
    if !crate::readers::lockless_native_reader(file_name, inode) {
        return Ok(false);
    }
    let basic = FILE_BASIC_INFO {
        LastAccessTime: KEPT_ACCESS as i64,
        // Zero times are left as they are; NORMAL clears HIDDEN | SYSTEM, the crate's mark.
        FileAttributes: FILE_ATTRIBUTE_NORMAL,
        ..FILE_BASIC_INFO::default()
    };
    // SAFETY: the handle is open for writing; `basic` is the structure of the class and lives
    // through the call.
    let done = unsafe {
        SetFileInformationByHandle(
            file.0,
            FileBasicInfo,
            (&raw const basic).cast::<c_void>(),
            size_of::<FILE_BASIC_INFO>() as u32,
        )
    };
    if done == 0 {
        return Err(format!(
            "cannot keep /dev/shm/{file_name} ({})",
            last_error()
        ));
    }
    Ok(true)
}

/// Opens `/dev/shm/<file_name>` for reading, writing and deleting, if it is that file itself
/// (not a file a symbolic link under the name leads to); `None` if no file has the name.
fn open_host_file(file_name: &str) -> Result<Option<Owned>, NotAdopted> {
    let path: Vec<u16> = HOST_SHM_DIR
        .encode_utf16()
        .chain(file_name.encode_utf16())
        .chain([0])
        .collect();
    // SAFETY: `path` is NUL-terminated UTF-16 that outlives the call; no security attributes
    // and no template.
    let handle = unsafe {
        CreateFileW(
            path.as_ptr(),
            GENERIC_READ | GENERIC_WRITE | DELETE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            null(),
            OPEN_EXISTING,
            FILE_ATTRIBUTE_NORMAL,
            null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        // SAFETY: reads this thread's last error, set by CreateFileW.
        return match unsafe { GetLastError() } {
            ERROR_FILE_NOT_FOUND => Ok(None),
            error => Err(format!("cannot open it for writing (Win32 error {error})")),
        };
    }
    let file = Owned(handle);
    let expected = format!("\\\\?\\Z:\\dev\\shm\\{file_name}");
    match final_path(&file)? {
        path if path == expected => Ok(Some(file)),
        path => Err(format!(
            "it leads to {path} (a symbolic link), not a file of /dev/shm"
        )),
    }
}

/// Whether `/dev/shm/<file_name>` is the file of inode `inode`.
fn is_named(file_name: &str, inode: u64) -> bool {
    open_host_file(file_name)
        .ok()
        .flatten()
        .and_then(|file| file_identity(&file).ok())
        .is_some_and(|(named, _)| named == inode)
}

/// The file's inode (Wine's file index) and its information.
fn file_identity(file: &Owned) -> Result<(u64, BY_HANDLE_FILE_INFORMATION), NotAdopted> {
    // SAFETY: all-zero is a valid value of this plain-data structure, which the call fills.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { zeroed() };
    // SAFETY: the handle is open; `info` is writable for the call.
    if unsafe { GetFileInformationByHandle(file.0, &mut info) } == 0 {
        return Err(format!("cannot read its attributes ({})", last_error()));
    }
    Ok((
        u64::from(info.nFileIndexHigh) << 32 | u64::from(info.nFileIndexLow),
        info,
    ))
}

/// Why a file was not adopted: it is not a reader's empty file, or something failed.
pub type NotAdopted = String;

/// Adopts the file `/dev/shm/<file_name>`, grown to `size` bytes, as the prefix's section
/// `section_name` (or as the file alone, with `None`), if it is a reader's empty file (see the
/// module's doc); `None` if there is no such file; else says why not.
pub fn adopt(
    section_name: Option<&str>,
    file_name: &str,
    size: u64,
) -> Result<Option<Adopted>, NotAdopted> {
    let Some(file) = open_host_file(file_name)? else {
        return Ok(None);
    };
    let (current, inode, kept) = check_is_a_readers_file(&file)?;
    hold_alone(&file)?;
    // Grown, never shrunk: a reader may map all of a larger file an earlier bridge made.
    if current < size {
        let bytes = i64::try_from(size).map_err(|_| "the size is too large".to_owned())?;
        set_size(&file, bytes)
            .map_err(|error| format!("cannot grow it to {size} bytes ({error})"))?;
    }
    let section = section_name
        .map(|name| name_section(&file, name, size))
        .transpose()?;
    let accessed = if kept { KEPT_ACCESS } else { ADOPTED_ACCESS };
    let mark = FILETIME {
        dwLowDateTime: accessed as u32,
        dwHighDateTime: (accessed >> 32) as u32,
    };
    // SAFETY: the handle is open for writing; only the access time is given, alive through the
    // call.
    if unsafe { SetFileTime(file.0, null(), &mark, null()) } == 0 {
        return Err(format!("cannot mark it as adopted ({})", last_error()));
    }
    Ok(Some(Adopted {
        section,
        file,
        kept,
        file_name: file_name.to_owned(),
        inode,
    }))
}

/// Makes the prefix's section `name` of `size` bytes from the file.
fn name_section(file: &Owned, name: &str, size: u64) -> Result<Owned, NotAdopted> {
    let wide_name: Vec<u16> = name.encode_utf16().chain([0]).collect();
    // SAFETY: the file handle is open for reading and writing, the name NUL-terminated and
    // alive through the call, no security attributes.
    let section = unsafe {
        CreateFileMappingW(
            file.0,
            null(),
            PAGE_READWRITE,
            (size >> 32) as u32,
            size as u32,
            wide_name.as_ptr(),
        )
    };
    // SAFETY: reads this thread's last error, set by CreateFileMappingW.
    let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
    if section.is_null() {
        return Err(format!(
            "cannot make the section from it ({})",
            last_error()
        ));
    }
    let section = Owned(section);
    if existed {
        return Err("the prefix made a section of the name meanwhile".into());
    }
    Ok(section)
}

/// Sets the file's size.
fn set_size(file: &Owned, bytes: i64) -> Result<(), String> {
    let end = FILE_END_OF_FILE_INFO { EndOfFile: bytes };
    // SAFETY: the handle is open for writing; `end` is the structure of the class and lives
    // through the call.
    let done = unsafe {
        SetFileInformationByHandle(
            file.0,
            FileEndOfFileInfo,
            (&raw const end).cast::<c_void>(),
            size_of::<FILE_END_OF_FILE_INFO>() as u32,
        )
    };
    if done == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// The file's final path, as Wine resolves it: symbolic links followed, `\\?\\Z:\\…`.
fn final_path(file: &Owned) -> Result<String, NotAdopted> {
    let mut path = vec![0u16; 1024];
    // SAFETY: the handle is open; the buffer is writable for its length in characters.
    let length = unsafe {
        GetFinalPathNameByHandleW(
            file.0,
            path.as_mut_ptr(),
            path.len() as u32,
            FILE_NAME_NORMALIZED,
        )
    } as usize;
    if length == 0 || length >= path.len() {
        return Err(format!("cannot read its path ({})", last_error()));
    }
    Ok(String::from_utf16_lossy(&path[..length]))
}

/// A regular file with one link, empty, adopted or kept before, unmarked and owned by this
/// process's user; its size, its inode and whether a bridge kept it.
fn check_is_a_readers_file(file: &Owned) -> Result<(u64, u64, bool), NotAdopted> {
    // SAFETY: the handle is open.
    if unsafe { GetFileType(file.0) } != FILE_TYPE_DISK {
        return Err("it is not a file".into());
    }
    let (inode, info) = file_identity(file)?;
    if info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0 || info.nNumberOfLinks != 1 {
        return Err("it is not a file with one name".into());
    }
    let accessed = u64::from(info.ftLastAccessTime.dwHighDateTime) << 32
        | u64::from(info.ftLastAccessTime.dwLowDateTime);
    let empty = info.nFileSizeHigh == 0 && info.nFileSizeLow == 0;
    let kept = accessed == KEPT_ACCESS;
    if !empty && accessed != ADOPTED_ACCESS && !kept {
        return Err(
            "it is not empty, nor adopted by an earlier wsm-bridge (another program's region?)"
                .into(),
        );
    }
    if info.dwFileAttributes & MARK == MARK {
        return Err("it carries the mark of a region of win-shared-memory (or of a plain Windows program's hidden system file)".into());
    }
    if !owned_by_this_user(file)? {
        return Err("another user owns it".into());
    }
    let size = u64::from(info.nFileSizeHigh) << 32 | u64::from(info.nFileSizeLow);
    Ok((size, inode, kept))
}

/// Whether the file's owner is this process's user (Wine shows another Unix user's file with
/// another owner, `S-1-5-7`).
fn owned_by_this_user(file: &Owned) -> Result<bool, NotAdopted> {
    let mut owner: PSID = null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: the handle is open; only the owner is asked for, into `owner`, which points into
    // `descriptor`, freed below with LocalFree.
    let error = unsafe {
        GetSecurityInfo(
            file.0,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            null_mut(),
            null_mut(),
            null_mut(),
            &mut descriptor,
        )
    };
    if error != 0 {
        return Err(format!("cannot read its owner (Win32 error {error})"));
    }
    let same = this_user(|user| {
        // SAFETY: both SIDs are valid: `owner` while `descriptor` lives, `user` in the token's
        // information buffer during the closure.
        unsafe { EqualSid(owner, user) != 0 }
    });
    // SAFETY: `descriptor` was allocated by GetSecurityInfo for this caller to free once.
    unsafe { LocalFree(descriptor) };
    same
}

/// Calls `check` with this process's user SID.
fn this_user(check: impl FnOnce(PSID) -> bool) -> Result<bool, NotAdopted> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the pseudo handle of this process needs no closing; `token` receives a handle.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(format!(
            "cannot open this process's token ({})",
            last_error()
        ));
    }
    let token = Owned(token);
    // A TOKEN_USER and its SID (at most 68 bytes), aligned for the structure.
    let mut buffer = [0u64; 32];
    let mut length = 0;
    // SAFETY: the token is open for querying; the buffer is writable for its size.
    let read = unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            size_of_val(&buffer) as u32,
            &mut length,
        )
    };
    if read == 0 {
        return Err(format!(
            "cannot read this process's user ({})",
            last_error()
        ));
    }
    // SAFETY: the call filled the buffer, aligned for it, with a TOKEN_USER whose SID points
    // into the buffer, alive during `check`.
    let user = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    Ok(check(user))
}

/// Checks that no holder of this crate has the file (each keeps a shared lock on its first
/// byte, which an exclusive lock would conflict with), then keeps a shared lock on it, as this
/// crate's holders do, so that another bridge sees it held.
fn hold_alone(file: &Owned) -> Result<(), NotAdopted> {
    let lock = |flags| {
        // SAFETY: all-zero is a valid OVERLAPPED: offset 0, no event.
        let mut at_zero: OVERLAPPED = unsafe { zeroed() };
        // SAFETY: the handle is open; one byte from offset 0; a synchronous handle, so the
        // OVERLAPPED only gives the offset.
        unsafe { LockFileEx(file.0, flags, 0, 1, 0, &mut at_zero) != 0 }
    };
    let unlock = || {
        // SAFETY: as for the lock: the same byte, which this handle locked.
        let mut at_zero: OVERLAPPED = unsafe { zeroed() };
        // SAFETY: the handle is open and holds the lock of this byte.
        unsafe { UnlockFileEx(file.0, 0, 1, 0, &mut at_zero) };
    };
    if !lock(LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY) {
        return Err("a program of win-shared-memory holds it".into());
    }
    unlock();
    if !lock(LOCKFILE_FAIL_IMMEDIATELY) {
        return Err(format!("cannot lock it ({})", last_error()));
    }
    Ok(())
}

/// This thread's last Win32 error, for messages.
fn last_error() -> String {
    // SAFETY: reads this thread's last error.
    format!("Win32 error {}", unsafe { GetLastError() })
}
