//! The named sections of this session (Windows): the `Section` objects of the object
//! manager's `\Sessions\<n>\BaseNamedObjects` (where `Local\name` and a plain `name` live),
//! which only the native API lists (`NtQueryDirectoryObject`), each with its size as the
//! library's open reads it (in whole pages where the OS rounds it, as Wine does).

use std::ffi::c_void;

use win_shared_memory::{ReadOnly, SharedMemory};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, NTSTATUS, UNICODE_STRING};
use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
use windows_sys::Win32::System::Threading::GetCurrentProcessId;

/// `DIRECTORY_QUERY`: the right to list a directory of the object manager.
const DIRECTORY_QUERY: u32 = 0x0001;
/// `OBJ_CASE_INSENSITIVE`, as the object manager's names are.
const OBJ_CASE_INSENSITIVE: u32 = 0x0040;
/// The listing is done.
const STATUS_NO_MORE_ENTRIES: NTSTATUS = 0x8000_001A_u32 as NTSTATUS;
/// The entry does not fit in the buffer given (its name is long): the call said how long.
const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32 as NTSTATUS;

/// `OBJECT_ATTRIBUTES`, naming the directory to open.
#[repr(C)]
struct ObjectAttributes {
    length: u32,
    root_directory: HANDLE,
    object_name: *const UNICODE_STRING,
    attributes: u32,
    security_descriptor: *const c_void,
    security_quality_of_service: *const c_void,
}

/// `OBJECT_DIRECTORY_INFORMATION`: one entry of a listing.
#[repr(C)]
struct DirectoryEntry {
    name: UNICODE_STRING,
    type_name: UNICODE_STRING,
}

windows_link::link!("ntdll.dll" "system" fn NtOpenDirectoryObject(
    directory: *mut HANDLE,
    access: u32,
    attributes: *const ObjectAttributes
) -> NTSTATUS);

windows_link::link!("ntdll.dll" "system" fn NtQueryDirectoryObject(
    directory: HANDLE,
    buffer: *mut c_void,
    length: u32,
    single_entry: u8,
    restart_scan: u8,
    context: *mut u32,
    return_length: *mut u32
) -> NTSTATUS);

/// One named section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its name in the session (`Local\name` names it too).
    pub name: String,
    /// Its size, as opening it reads it, or why it could not be opened.
    pub size: Result<u64, String>,
}

impl Section {
    /// One line of JSON: `size` null and `error` said when it could not be opened.
    pub fn json(&self) -> String {
        let size = match &self.size {
            Ok(size) => size.to_string(),
            Err(why) => format!("null,\"error\":{}", crate::json_string(why)),
        };
        format!(
            "{{\"name\":{},\"size\":{size}}}",
            crate::json_string(&self.name)
        )
    }
}

/// The named sections of this session, sorted by name.
pub fn list() -> Result<Vec<Section>, String> {
    let directory = session_directory();
    let handle = open_directory(&directory)?;
    let names = section_names(handle, &directory);
    // SAFETY: the handle was opened above and is closed once, here.
    unsafe { CloseHandle(handle) };
    let mut sections: Vec<Section> = names?
        .into_iter()
        .map(|name| {
            let size = SharedMemory::<ReadOnly>::open(&name)
                .map(|region| region.len() as u64)
                .map_err(|error| crate::inspect::describe(&name, "opening", &error));
            Section { name, size }
        })
        .collect();
    sections.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(sections)
}

/// `\Sessions\<n>\BaseNamedObjects` of this process's session (`\BaseNamedObjects` in
/// session 0, the services').
fn session_directory() -> String {
    let mut session = 0;
    // SAFETY: `session` is writable for the call; on failure it stays 0.
    let known = unsafe { ProcessIdToSessionId(GetCurrentProcessId(), &mut session) } != 0;
    match (known, session) {
        (true, session) if session != 0 => format!("\\Sessions\\{session}\\BaseNamedObjects"),
        _ => "\\BaseNamedObjects".to_owned(),
    }
}

/// Opens the object manager's directory `path` to list it.
fn open_directory(path: &str) -> Result<HANDLE, String> {
    let mut wide: Vec<u16> = path.encode_utf16().collect();
    let bytes = u16::try_from(wide.len() * 2).map_err(|_| format!("{path}: too long"))?;
    let name = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: wide.as_mut_ptr(),
    };
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        root_directory: std::ptr::null_mut(),
        object_name: &name,
        attributes: OBJ_CASE_INSENSITIVE,
        security_descriptor: std::ptr::null(),
        security_quality_of_service: std::ptr::null(),
    };
    let mut handle: HANDLE = std::ptr::null_mut();
    // SAFETY: `handle` is writable; `attributes` and the name it points to (and `wide`, the
    // name's text) live through the call.
    let status = unsafe { NtOpenDirectoryObject(&mut handle, DIRECTORY_QUERY, &attributes) };
    if status < 0 {
        return Err(format!(
            "listing the sections: NtOpenDirectoryObject({path}) failed with status {status:#010x}"
        ));
    }
    Ok(handle)
}

/// The names of the `Section` objects of the open directory `handle`, an entry a call (the
/// mode every implementation has, Wine's included).
fn section_names(handle: HANDLE, path: &str) -> Result<Vec<String>, String> {
    // One entry and the texts it points to, in 8-byte units so that the entry is aligned;
    // grown for an entry with a longer name (any program may make one).
    let mut buffer = vec![0_u64; 512];
    let mut context = 0_u32;
    let mut names = Vec::new();
    let mut restart = 1;
    loop {
        let mut returned = 0_u32;
        let buffer_len = u32::try_from(buffer.len() * size_of::<u64>()).unwrap_or(u32::MAX);
        // SAFETY: the buffer is writable for its length in bytes; `context` and `returned`
        // are writable for the call.
        let status = unsafe {
            NtQueryDirectoryObject(
                handle,
                buffer.as_mut_ptr().cast(),
                buffer_len,
                1,
                restart,
                &mut context,
                &mut returned,
            )
        };
        if status == STATUS_BUFFER_TOO_SMALL && returned > buffer_len {
            // The same entry again, into a buffer of the length the call asked for.
            buffer.resize((returned as usize).div_ceil(size_of::<u64>()), 0);
            continue;
        }
        restart = 0;
        if status == STATUS_NO_MORE_ENTRIES {
            return Ok(names);
        }
        if status < 0 {
            return Err(format!(
                "listing the sections: NtQueryDirectoryObject({path}) failed with status \
                 {status:#010x}"
            ));
        }
        // SAFETY: the call filled the buffer with one entry, whose texts lie in the buffer
        // too, and left it unchanged since.
        let entry = unsafe { &*buffer.as_ptr().cast::<DirectoryEntry>() };
        // SAFETY: as above: each text is `Length` bytes of UTF-16 in the buffer, or null.
        let (name, kind) = unsafe { (text(&entry.name), text(&entry.type_name)) };
        if kind == "Section" {
            names.push(name);
        }
    }
}

/// A counted UTF-16 text as a `String` (unpaired surrogates replaced).
///
/// # Safety
///
/// `text.Buffer` must point to `text.Length` readable bytes, or be null.
unsafe fn text(text: &UNICODE_STRING) -> String {
    if text.Buffer.is_null() {
        return String::new();
    }
    // SAFETY: the caller vouches for the buffer and its length in bytes.
    let units = unsafe { std::slice::from_raw_parts(text.Buffer, usize::from(text.Length) / 2) };
    String::from_utf16_lossy(units)
}
