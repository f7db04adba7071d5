//! What Windows' named mutex and event share: the wait on a handle, and the security a new
//! object gets from the options.

use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, WAIT_EVENT};
use windows_sys::Win32::System::Threading::{INFINITE, WaitForSingleObject};

use crate::name::RegionName;
use crate::sys::CreateAccess;
use crate::{Options, SharedMemoryError};

/// Waits on a Win32 handle for at most `timeout` (`None`: forever), in whole milliseconds
/// rounded up so that a short wait is not a poll, and always below INFINITE when bounded.
pub(super) fn wait_for_object(handle: HANDLE, timeout: Option<Duration>) -> WAIT_EVENT {
    let millis = timeout.map_or(INFINITE, |timeout| {
        let millis = timeout.as_nanos().div_ceil(1_000_000);
        u32::try_from(millis)
            .unwrap_or(INFINITE - 1)
            .min(INFINITE - 1)
    });
    // SAFETY: the callers pass a handle they keep open for the call.
    unsafe { WaitForSingleObject(handle, millis) }
}

/// The security a new named object gets: the options' security descriptor, or the default.
/// Refuses options Windows cannot honour.
pub(super) fn create_access(
    name: &RegionName,
    options: &Options,
) -> Result<CreateAccess, SharedMemoryError> {
    options.check(name)?;
    CreateAccess::new(&options.permissions()).map_err(|source| {
        SharedMemoryError::SecurityDescriptor {
            name: name.as_str().to_owned(),
            source,
        }
    })
}
