//! Cross-process synchronisation for values in shared regions.
//!
//! [`SeqLock`] lets one writer publish a value that any number of readers, in any processes,
//! copy consistently without locks.

mod double_buffer;
mod event;
mod mutex;
mod seqlock;
mod versioned;

pub use double_buffer::{DoubleBuffer, DoubleBufferReader};
pub use event::{EventReset, NamedEvent};
pub use mutex::{LockError, NamedMutex, NamedMutexGuard};

pub use seqlock::{DEFAULT_PATIENCE, SeqLock, SeqLockError, SeqLockReader};
pub use versioned::Versioning;

/// Waits on a Win32 handle for at most `timeout` (`None`: forever), in whole milliseconds
/// rounded up so that a short wait is not a poll, and always below INFINITE when bounded.
#[cfg(windows)]
fn wait_for_object(
    handle: windows::Win32::Foundation::HANDLE,
    timeout: Option<std::time::Duration>,
) -> windows::Win32::Foundation::WAIT_EVENT {
    use windows::Win32::System::Threading::{INFINITE, WaitForSingleObject};
    let millis = timeout.map_or(INFINITE, |timeout| {
        let millis = timeout.as_nanos().div_ceil(1_000_000);
        u32::try_from(millis)
            .unwrap_or(INFINITE - 1)
            .min(INFINITE - 1)
    });
    // SAFETY: the callers pass a handle they keep open for the call.
    unsafe { WaitForSingleObject(handle, millis) }
}
