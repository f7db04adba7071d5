//! Win32 named file mappings backed by the paging file.
//!
//! A section lives as long as some process holds a handle to it; the kernel closes a crashed
//! process's handles, so nothing outlives its last holder.

use std::ffi::c_void;
use std::ptr::NonNull;

use windows::Win32::Foundation::{
    CloseHandle, E_INVALIDARG, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_SUCCESS,
    GetLastError, HANDLE, HLOCAL, INVALID_HANDLE_VALUE, LocalFree, NTSTATUS, RtlNtStatusToDosError,
    SetLastError,
};
use windows::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};
use windows::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, SECTION_QUERY,
    UnmapViewOfFile, VirtualQuery,
};
use windows::core::{HRESULT, PCWSTR};

use super::Disposition;

/// The error type of this platform's calls, as in 0.1.0.
pub type OsError = windows::core::Error;

/// The calls that error messages name, one for each failing operation.
pub(crate) const OPEN_CALL: &str = "OpenFileMappingW";
pub(crate) const CREATE_CALL: &str = "CreateFileMappingW";
pub(crate) const MAP_CALL: &str = "MapViewOfFile";
pub(crate) const SIZE_CALL: &str = "NtQuerySection";

/// `SECTION_INFORMATION_CLASS::SectionBasicInformation`.
const SECTION_BASIC_INFORMATION_CLASS: u32 = 0;

/// `SECTION_BASIC_INFORMATION`, the answer of `NtQuerySection` for class 0.
#[repr(C)]
struct SectionBasicInformation {
    base_address: *mut c_void,
    allocation_attributes: u32,
    maximum_size: i64,
}

windows::core::link!("ntdll.dll" "system" fn NtQuerySection(
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
    /// Parses the chosen SDDL, if any.
    pub(crate) fn new(sddl: Option<&str>) -> Result<Self, OsError> {
        let Some(sddl) = sddl else {
            return Ok(Self(None));
        };
        let wide: Vec<u16> = sddl.encode_utf16().chain([0]).collect();
        let mut descriptor = PSECURITY_DESCRIPTOR::default();
        // SAFETY: a NUL-terminated string that outlives the call; the descriptor it allocates is
        // ours to free with LocalFree, which `SecurityDescriptor` does.
        unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                PCWSTR(wide.as_ptr()),
                SDDL_REVISION_1,
                &mut descriptor,
                None,
            )?;
        }
        Ok(Self(Some(SecurityDescriptor(descriptor))))
    }

    /// The attributes CreateFileMappingW (and CreateMutexExW, CreateEventExW) take, pointing
    /// into `self`.
    pub(crate) fn attributes(&self) -> Option<SECURITY_ATTRIBUTES> {
        self.0.as_ref().map(|descriptor| SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor.0.0,
            bInheritHandle: false.into(),
        })
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: the descriptor came from ConvertStringSecurityDescriptorToSecurityDescriptorW,
        // which allocates it with LocalAlloc, and is freed only here.
        unsafe { LocalFree(Some(HLOCAL(self.0.0))) };
    }
}

/// An open handle to a named section.
#[derive(Debug)]
pub(crate) struct Section {
    handle: HANDLE,
    /// Whether the handle may query the section's size (SECTION_QUERY); a section whose
    /// security grants mapping alone is measured through a view instead.
    queryable: bool,
}

impl Section {
    /// Creates a zero-filled section of `size` bytes, or opens (with all access) the section
    /// that already has the name (NUL-terminated UTF-16).
    pub(crate) fn create_or_open(
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
        let handle = unsafe {
            SetLastError(ERROR_SUCCESS);
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                attributes.as_ref().map(|attributes| attributes as *const _),
                PAGE_READWRITE,
                high,
                low,
                name,
            )?
        };
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
            },
            disposition,
        ))
    }

    /// Opens the section that has the name, with the right to query its size.
    ///
    /// A section whose security grants mapping but not querying (0.1.0 never asked for it) is
    /// opened for mapping alone, and measured through a view.
    pub(crate) fn open(name: &[u16], writable: bool) -> Result<Self, OsError> {
        let name = wide(name)?;
        // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; the handle is not
        // inherited by child processes.
        let open = |access: u32| unsafe { OpenFileMappingW(access, false, name) };
        match open(map_access(writable).0 | SECTION_QUERY.0) {
            Ok(handle) => Ok(Self {
                handle,
                queryable: true,
            }),
            Err(error) if error.code() == ERROR_ACCESS_DENIED.to_hresult() => Ok(Self {
                handle: open(map_access(writable).0)?,
                queryable: false,
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
        if !self.queryable {
            return self.size_of_whole_view();
        }
        let mut info = SectionBasicInformation {
            base_address: std::ptr::null_mut(),
            allocation_attributes: 0,
            maximum_size: 0,
        };
        // SAFETY: the handle is open with SECTION_QUERY access (creation grants all access);
        // the buffer is a SECTION_BASIC_INFORMATION of the length passed.
        let status = unsafe {
            NtQuerySection(
                self.handle,
                SECTION_BASIC_INFORMATION_CLASS,
                (&raw mut info).cast(),
                size_of::<SectionBasicInformation>(),
                std::ptr::null_mut(),
            )
        };
        if status.0 < 0 {
            // SAFETY: a pure conversion of a status code.
            let win32 = unsafe { RtlNtStatusToDosError(status) };
            return Err(OsError::from_hresult(HRESULT::from_win32(win32)));
        }
        // A section's size is never negative; the conversion only satisfies the type.
        Ok(u64::try_from(info.maximum_size).unwrap_or(0))
    }

    /// The size of a view of the whole section, in whole pages.
    fn size_of_whole_view(&self) -> Result<u64, OsError> {
        // SAFETY: the handle is an open section mapped read-only in full (length 0); the view
        // is only described by VirtualQuery and unmapped before returning.
        unsafe {
            let view = MapViewOfFile(self.handle, FILE_MAP_READ, 0, 0, 0);
            if view.Value.is_null() {
                return Err(OsError::from_thread());
            }
            let mut info = MEMORY_BASIC_INFORMATION::default();
            let written = VirtualQuery(
                Some(view.Value),
                &mut info,
                size_of::<MEMORY_BASIC_INFORMATION>(),
            );
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
        let address = unsafe { MapViewOfFile(self.handle, map_access(writable), 0, 0, len) };
        match NonNull::new(address.Value.cast()) {
            Some(ptr) => Ok(Mapping {
                ptr,
                _section: self,
            }),
            None => Err(OsError::from_thread()),
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by this value, and closed only here.
        // Closing a valid handle cannot fail in a way drop could act on.
        let _ = unsafe { CloseHandle(self.handle) };
    }
}

/// A name for the `W` functions, which read it up to its NUL: a name without one is refused
/// rather than read past its end. The pointer is valid while `name` lives.
fn wide(name: &[u16]) -> Result<PCWSTR, OsError> {
    match name.last() {
        Some(0) => Ok(PCWSTR(name.as_ptr())),
        _ => Err(OsError::from_hresult(E_INVALIDARG)),
    }
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
    _section: Section,
}

impl Mapping {
    /// The first byte of the view.
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
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
