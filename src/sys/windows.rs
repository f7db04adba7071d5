//! Win32 named file mappings backed by the paging file, or under Wine by a file of the Linux
//! host's `/dev/shm` ([`host`]).
//!
//! A section lives as long as some process holds a handle to it; the kernel closes a crashed
//! process's handles, so nothing outlives its last holder.

mod host;

pub(crate) use host::{HostFile, is_wine, try_lock_byte, unlock_byte};

use std::ffi::c_void;
use std::ptr::NonNull;

use windows_result::HRESULT;
use windows_sys::Win32::Foundation::{
    CloseHandle, E_INVALIDARG, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND,
    ERROR_LOCK_VIOLATION, ERROR_SUCCESS, GetLastError, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
    NTSTATUS, RtlNtStatusToDosError, SetLastError, WIN32_ERROR,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW, PAGE_READONLY, PAGE_READWRITE,
    SEC_FILE, SECTION_QUERY, UnmapViewOfFile, VirtualQuery,
};
use windows_sys::core::{BOOL, PCWSTR};

use super::Disposition;

/// The error type of this platform's calls, as in 0.1.0: `windows::core::Error` of `windows`
/// 0.62, which is `windows_result::Error` re-exported.
pub type OsError = windows_result::Error;

/// The calls that error messages name, one for each failing operation.
pub(crate) const OPEN_CALL: &str = "OpenFileMappingW";
pub(crate) const CREATE_CALL: &str = "CreateFileMappingW";
pub(crate) const MAP_CALL: &str = "MapViewOfFile";
pub(crate) const SIZE_CALL: &str = "NtQuerySection";

/// The error that a failed NT call's `status` stands for.
pub(crate) fn nt_error(status: NTSTATUS) -> OsError {
    // SAFETY: a pure conversion of a status code.
    let win32 = unsafe { RtlNtStatusToDosError(status) };
    OsError::from_hresult(HRESULT::from_win32(win32))
}

/// `SECTION_INFORMATION_CLASS::SectionBasicInformation`.
const SECTION_BASIC_INFORMATION_CLASS: u32 = 0;

/// `SECTION_BASIC_INFORMATION`, the answer of `NtQuerySection` for class 0.
#[repr(C)]
struct SectionBasicInformation {
    base_address: *mut c_void,
    allocation_attributes: u32,
    maximum_size: i64,
}

windows_link::link!("ntdll.dll" "system" fn NtQuerySection(
    section: HANDLE,
    class: u32,
    information: *mut c_void,
    information_len: usize,
    return_len: *mut usize
) -> NTSTATUS);

/// Who may use a new section: the security descriptor the options give, or the process's
/// default security.
pub(crate) struct CreateAccess(Option<SecurityDescriptor>);

/// A security descriptor parsed from SDDL, freed on drop.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl CreateAccess {
    /// Parses the chosen SDDL, if any; Windows has no modes.
    pub(crate) fn new(permissions: &super::Permissions<'_>) -> Result<Self, OsError> {
        let Some(sddl) = permissions.security_descriptor else {
            return Ok(Self(None));
        };
        let wide: Vec<u16> = sddl.encode_utf16().chain([0]).collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string that outlives the call; the descriptor it allocates is
        // ours to free with LocalFree, which `SecurityDescriptor` does.
        succeeded(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        })?;
        Ok(Self(Some(SecurityDescriptor(descriptor))))
    }

    /// The attributes CreateFileMappingW (and CreateMutexExW, CreateEventExW) take, pointing
    /// into `self`.
    pub(crate) fn attributes(&self) -> Option<SECURITY_ATTRIBUTES> {
        self.0.as_ref().map(|descriptor| SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor.0,
            bInheritHandle: 0,
        })
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: the descriptor came from ConvertStringSecurityDescriptorToSecurityDescriptorW,
        // which allocates it with LocalAlloc, and is freed only here.
        unsafe { LocalFree(self.0) };
    }
}

/// An open handle to a named section.
#[derive(Debug)]
pub(crate) struct Section {
    handle: Handle,
    /// Whether the handle may query the section's size (SECTION_QUERY); a section whose
    /// security grants mapping alone is measured through a view instead.
    queryable: bool,
    /// The host file backing the section, held while the section is; closed after it, as
    /// fields drop after `drop`.
    host: Option<host::HostFile>,
}

impl Section {
    /// Creates a zero-filled section of `size` bytes, or opens (with all access) the one that
    /// already has the name: backed by the host file when the place has one, else by the
    /// paging file.
    pub(crate) fn create_or_open(
        place: super::Place<'_>,
        size: u64,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        match place.host_file {
            Some(file_name) => {
                Self::create_or_open_host(file_name, prefix_name(place), size, access)
            }
            None => Self::create_or_open_paged(place.name, size, access),
        }
    }

    /// Opens the section that has the name (its host file's, when the place has one).
    pub(crate) fn open(place: super::Place<'_>, writable: bool) -> Result<Self, OsError> {
        match place.host_file {
            Some(file_name) => Self::open_host(file_name, prefix_name(place), writable),
            None => Self::open_paged(place.name, writable),
        }
    }

    /// Creates a zero-filled section of `size` bytes backed by the paging file, or opens (with
    /// all access) the section that already has the name (NUL-terminated UTF-16).
    fn create_or_open_paged(
        name: &[u16],
        size: u64,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        let name = wide(name)?;
        let attributes = access.attributes();
        // The split is what the API takes: the high and the low 32 bits of the size.
        let (high, low) = ((size >> 32) as u32, size as u32);
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; no file handle
        // means a section backed by the paging file; the attributes, if any, point into
        // `access`, which outlives the call.
        // SetLastError first, because success leaves the last error untouched when the
        // section is new, and a stale ERROR_ALREADY_EXISTS must not pass for ours.
        let handle = opened(unsafe {
            SetLastError(ERROR_SUCCESS);
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                attributes_ptr(attributes.as_ref()),
                PAGE_READWRITE,
                high,
                low,
                name,
            )
        })?;
        // SAFETY: reads this thread's last error, set by the call just made.
        let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
        let disposition = if existed {
            Disposition::Existing
        } else {
            Disposition::Created
        };
        Ok((
            Self {
                handle,
                queryable: true,
                host: None,
            },
            disposition,
        ))
    }

    /// [`create_or_open_paged`](Self::create_or_open_paged) of a section backed by the host file
    /// `file_name` (a [`windows_file_name`](crate::boundary::windows_file_name)). A section of the name that exists in the Wine
    /// prefix without that file (a program that made it from the paging file) is refused with
    /// ERROR_ALREADY_EXISTS: native programs could not reach it.
    fn create_or_open_host(
        file_name: &str,
        name: Option<&[u16]>,
        size: u64,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        for _ in 0..host::MAX_ATTEMPTS {
            if let Some(file) = host::HostFile::create(file_name, size)? {
                let section = Self::from_host_file(name, file, true, access)?;
                if section.1 == Disposition::Existing {
                    // Made from another file, not from ours.
                    return Err(host_error(ERROR_ALREADY_EXISTS));
                }
                return Ok(section);
            }
            match host::HostFile::open(file_name, true)? {
                host::Found::Joined(file) => {
                    return Self::from_host_file(name, file, true, access)
                        .map(|(section, _)| (section, Disposition::Existing));
                }
                host::Found::Missing | host::Found::Stale | host::Found::Vanished => continue,
            }
        }
        Err(host_error(ERROR_LOCK_VIOLATION))
    }

    /// The named section made from (or, when the prefix has it already, found for) a host
    /// file this process holds; ERROR_ALREADY_EXISTS when the prefix's section of the name is
    /// backed by the paging file. Without a name, a section of the file alone, always new.
    fn from_host_file(
        name: Option<&[u16]>,
        file: host::HostFile,
        writable: bool,
        access: &CreateAccess,
    ) -> Result<(Self, Disposition), OsError> {
        let name = match name {
            Some(name) => wide(name)?,
            None => std::ptr::null(),
        };
        let attributes = access.attributes();
        let protection = if writable {
            PAGE_READWRITE
        } else {
            PAGE_READONLY
        };
        // SAFETY: an open file handle that outlives the call; size 0 maps the whole file; the
        // name is null or NUL-terminated UTF-16 and the attributes, if any, point into `access`, both
        // outliving the call. SetLastError first, as in `create_or_open_paged`.
        let handle = opened(unsafe {
            SetLastError(ERROR_SUCCESS);
            CreateFileMappingW(
                file.handle().raw(),
                attributes_ptr(attributes.as_ref()),
                protection,
                0,
                0,
                name,
            )
        })?;
        // SAFETY: reads this thread's last error, set by the call just made.
        let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
        let section = Self {
            handle,
            queryable: true,
            host: Some(file),
        };
        if !existed {
            return Ok((section, Disposition::Created));
        }
        // A section of the prefix made from the paging file (a program without the option)
        // has the name: native programs could not reach it.
        if section.basic_information()?.allocation_attributes & SEC_FILE == 0 {
            return Err(host_error(ERROR_ALREADY_EXISTS));
        }
        Ok((section, Disposition::Existing))
    }

    /// Opens the section backed by the host file `file_name` (a [`windows_file_name`](crate::boundary::windows_file_name)), which
    /// must exist.
    fn open_host(file_name: &str, name: Option<&[u16]>, writable: bool) -> Result<Self, OsError> {
        for _ in 0..host::MAX_ATTEMPTS {
            match host::HostFile::open(file_name, writable)? {
                host::Found::Joined(file) => {
                    return Self::from_host_file(name, file, writable, &CreateAccess(None))
                        .map(|(section, _)| section);
                }
                host::Found::Missing | host::Found::Stale => {
                    return Err(host_error(ERROR_FILE_NOT_FOUND));
                }
                host::Found::Vanished => continue,
            }
        }
        Err(host_error(ERROR_LOCK_VIOLATION))
    }

    /// Opens the section that has the name, with the right to query its size.
    ///
    /// A section whose security grants mapping but not querying (0.1.0 never asked for it) is
    /// opened for mapping alone, and measured through a view.
    fn open_paged(name: &[u16], writable: bool) -> Result<Self, OsError> {
        let name = wide(name)?;
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; the handle is not
        // inherited by child processes.
        let open = |access: u32| opened(unsafe { OpenFileMappingW(access, 0, name) });
        match open(map_access(writable) | SECTION_QUERY) {
            Ok(handle) => Ok(Self {
                handle,
                queryable: true,
                host: None,
            }),
            Err(error) if is_win32(&error, ERROR_ACCESS_DENIED) => Ok(Self {
                handle: open(map_access(writable))?,
                queryable: false,
                host: None,
            }),
            Err(error) => Err(error),
        }
    }

    /// The owner of the section, when it is not this process's user: never, as Windows leaves
    /// ownership to security descriptors (the options refuse an owner check there).
    pub(crate) fn foreign_owner(&self) -> Result<Option<u32>, OsError> {
        Ok(None)
    }

    /// The section's size in bytes: exact on Windows, rounded up to a page under Wine or when
    /// the handle may not query it.
    pub(crate) fn size(&self) -> Result<u64, OsError> {
        if let Some(file) = &self.host {
            // Exact, where a section's size is rounded up to a page under Wine.
            return file.size();
        }
        if !self.queryable {
            return self.size_of_whole_view();
        }
        let info = self.basic_information()?;
        // A section's size is never negative; the conversion only satisfies the type.
        Ok(u64::try_from(info.maximum_size).unwrap_or(0))
    }

    /// What NtQuerySection tells of the section (the handle must have SECTION_QUERY).
    fn basic_information(&self) -> Result<SectionBasicInformation, OsError> {
        let mut info = SectionBasicInformation {
            base_address: std::ptr::null_mut(),
            allocation_attributes: 0,
            maximum_size: 0,
        };
        // SAFETY: the handle is open with SECTION_QUERY access (creation grants all access);
        // the buffer is a SECTION_BASIC_INFORMATION of the length passed.
        let status = unsafe {
            NtQuerySection(
                self.handle.raw(),
                SECTION_BASIC_INFORMATION_CLASS,
                (&raw mut info).cast(),
                size_of::<SectionBasicInformation>(),
                std::ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err(nt_error(status));
        }
        Ok(info)
    }

    /// The size of a view of the whole section, in whole pages.
    fn size_of_whole_view(&self) -> Result<u64, OsError> {
        // SAFETY: the handle is an open section mapped read-only in full (length 0); the view
        // is only described by VirtualQuery and unmapped before returning. The description
        // starts all zero, valid for its integers and pointers.
        unsafe {
            let view = MapViewOfFile(self.handle.raw(), FILE_MAP_READ, 0, 0, 0);
            if view.Value.is_null() {
                return Err(OsError::from_thread());
            }
            let mut info = std::mem::zeroed::<MEMORY_BASIC_INFORMATION>();
            let written =
                VirtualQuery(view.Value, &mut info, size_of::<MEMORY_BASIC_INFORMATION>());
            let described = if written == 0 {
                Err(OsError::from_thread())
            } else {
                Ok(info.RegionSize as u64)
            };
            let _ = UnmapViewOfFile(view);
            described
        }
    }

    /// Maps the first `len` bytes of the section; the mapping keeps the section open.
    pub(crate) fn map(self, len: usize, writable: bool) -> Result<Mapping, OsError> {
        // SAFETY: the handle is an open section; `len` is non-zero and the caller checked it
        // against the section's size. The system picks the address, overlapping nothing.
        let address = unsafe { MapViewOfFile(self.handle.raw(), map_access(writable), 0, 0, len) };
        match NonNull::new(address.Value.cast()) {
            Some(ptr) => Ok(Mapping { ptr, section: self }),
            None => Err(OsError::from_thread()),
        }
    }
}

/// The name a section backed by the place's host file gets in the Wine prefix, if any.
fn prefix_name<'a>(place: super::Place<'a>) -> Option<&'a [u16]> {
    place.name_in_prefix.then_some(place.name.as_slice())
}

/// A name for the `W` functions, which read it up to its NUL: a name without one is refused
/// rather than read past its end. The pointer is valid while `name` lives.
fn wide(name: &[u16]) -> Result<PCWSTR, OsError> {
    match name.last() {
        Some(0) => Ok(name.as_ptr()),
        _ => Err(OsError::from_hresult(HRESULT(E_INVALIDARG))),
    }
}

/// Why Windows cannot honour an option: ownership is a matter of security descriptors here,
/// and only a Windows program under Wine has a Linux host to share regions with.
pub(crate) fn refusal(requested: &super::Requested) -> Option<&'static str> {
    if requested.owner_check {
        return Some("the owner check is Unix's; on Windows give the region a security descriptor");
    }
    (requested.linux_host && !is_wine())
        .then_some("linux_host shares a region with the Linux host of Wine, and this is not Wine")
}

/// The portable kind of a Windows error: Win32 codes arrive as HRESULTs, which
/// `std::io::Error::from` would keep whole rather than decode, so the kinds that users test
/// for are matched here.
pub(crate) fn error_kind(error: &OsError) -> std::io::ErrorKind {
    use std::io::ErrorKind;
    use windows_sys::Win32::Foundation::{ERROR_FILE_EXISTS, ERROR_PATH_NOT_FOUND};
    let is = |code| is_win32(error, code);
    if is(ERROR_FILE_NOT_FOUND) || is(ERROR_PATH_NOT_FOUND) {
        ErrorKind::NotFound
    } else if is(ERROR_ACCESS_DENIED) {
        ErrorKind::PermissionDenied
    } else if is(ERROR_ALREADY_EXISTS) || is(ERROR_FILE_EXISTS) {
        ErrorKind::AlreadyExists
    } else {
        ErrorKind::Other
    }
}

/// The error Windows reports for `kind` (not found, denied, or else exists), for tests.
#[cfg(test)]
pub(crate) fn error_of_kind(kind: std::io::ErrorKind) -> OsError {
    let code = match kind {
        std::io::ErrorKind::NotFound => ERROR_FILE_NOT_FOUND,
        std::io::ErrorKind::PermissionDenied => ERROR_ACCESS_DENIED,
        _ => ERROR_ALREADY_EXISTS,
    };
    OsError::from_hresult(HRESULT::from_win32(code))
}

/// Windows frees a section with its last handle, crashes included: nothing is ever stale.
pub(crate) fn reclaim_stale() -> std::io::Result<usize> {
    Ok(0)
}

/// The Win32 error `code` as the platform's error, without originating one (which aborts the
/// process under Wine).
fn host_error(code: WIN32_ERROR) -> OsError {
    OsError::from_hresult(HRESULT::from_win32(code))
}

/// Whether `error` is the Win32 error `code`, which the platform's error carries as an HRESULT.
pub(crate) fn is_win32(error: &OsError, code: WIN32_ERROR) -> bool {
    error.code() == HRESULT::from_win32(code)
}

/// A handle this process owns, closed when it drops: the one place the crate closes handles.
#[derive(Debug)]
pub(crate) struct Handle(HANDLE);

impl Handle {
    /// The handle, for a call; it stays owned by `self`.
    pub(crate) fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is open (`opened` checked it), owned by this value and closed only
        // here; closing a valid handle cannot fail in a way drop could act on.
        let _ = unsafe { CloseHandle(self.0) };
    }
}

/// The handle a `Create…`/`Open…` call returned, or the thread's last error when it is null or
/// INVALID_HANDLE_VALUE, which is how those calls fail. Called right after the call, before
/// anything else may set the last error.
pub(crate) fn opened(handle: HANDLE) -> Result<Handle, OsError> {
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        Err(OsError::from_thread())
    } else {
        Ok(Handle(handle))
    }
}

/// Success, or the thread's last error when a call returned FALSE. Called right after the call.
pub(crate) fn succeeded(result: BOOL) -> Result<(), OsError> {
    if result == 0 {
        Err(OsError::from_thread())
    } else {
        Ok(())
    }
}

/// The attributes pointer the `Create…` calls take: null for the process's default security.
pub(crate) fn attributes_ptr(
    attributes: Option<&SECURITY_ATTRIBUTES>,
) -> *const SECURITY_ATTRIBUTES {
    attributes.map_or(std::ptr::null(), std::ptr::from_ref)
}

/// The access a view needs, which is also what a handle must be opened with to map it.
fn map_access(writable: bool) -> FILE_MAP {
    if writable {
        FILE_MAP_READ | FILE_MAP_WRITE
    } else {
        FILE_MAP_READ
    }
}

/// A mapped view of a section, and the handle that keeps the section alive.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    /// Closed after the view is unmapped, as fields drop after `drop`.
    section: Section,
}

impl Mapping {
    /// The first byte of the view.
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The file of the Linux host that backs the region under Wine
    /// ([`Options::linux_host`](crate::Options::linux_host)), if one does.
    pub(crate) fn host_file(&self) -> Option<&HostFile> {
        self.section.host.as_ref()
    }

    /// Never one: Windows processes share no futex, so no one needs to write a read-only view.
    pub(crate) fn writable_alias(&self, _offset: usize) -> Option<Alias> {
        None
    }
}

/// A writable second view of a region mapped read-only: none on Windows.
#[derive(Debug)]
pub(crate) enum Alias {}

impl Alias {
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        match *self {}
    }

    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        match *self {}
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the address is the one MapViewOfFile returned, unmapped only here, once;
        // the borrows handed out of the view end before it drops.
        let _ = unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
    }
}
