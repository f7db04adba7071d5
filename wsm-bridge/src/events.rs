//! Named events across the boundary. Events made inside Wine live only in `wineserver`, so a
//! native program cannot wait on them; the bridge forwards them through its standard streams,
//! and `wsm-bridge launch` (native) turns each line into win-shared-memory's `NamedEvent` of the
//! same name, or back.
//!
//! - To native (`--event`): a thread per event waits on it in the prefix and prints `set NAME`
//!   at each signal. A manual-reset event that the game leaves set (rather than pulsing it, as
//!   iRacing does) is reported once, then watched every millisecond until it is reset. Waiting
//!   on an auto-reset event takes its signal, as any waiter does: a Windows waiter of the
//!   prefix then misses that signal (the native side is meant to be its reader).
//! - To Windows (`--event-to-windows`): each `set NAME` line read from standard input sets the
//!   prefix's event (auto reset: one waiter; manual reset: a pulse, every waiter at that
//!   moment).

use std::io::Write;
use std::ptr::null;

use win_shared_memory::sync::EventReset;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, PulseEvent, SetEvent, Sleep, WaitForSingleObject,
};

/// An event of the prefix, opened or made with its reset mode.
pub struct PrefixEvent {
    name: String,
    handle: HANDLE,
    reset: EventReset,
}

// SAFETY: an event handle may be used from any thread; the value only closes it on drop.
unsafe impl Send for PrefixEvent {}
// SAFETY: as above: waits and sets through one handle from several threads are allowed.
unsafe impl Sync for PrefixEvent {}

impl PrefixEvent {
    /// Opens the prefix's event `name`, or makes it (unset, with `reset`) if the game has not.
    pub fn open_or_make(name: &str, reset: EventReset) -> Result<Self, String> {
        let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
        // SAFETY: the name is NUL-terminated and alive through the call; no attributes.
        let handle = unsafe {
            CreateEventW(
                null(),
                i32::from(reset == EventReset::Manual),
                0,
                wide.as_ptr(),
            )
        };
        if handle.is_null() {
            // SAFETY: reads this thread's last error, set by CreateEventW.
            let error = unsafe { GetLastError() };
            return Err(format!(
                "cannot open or make the event {name} (Win32 error {error})"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            handle,
            reset,
        })
    }

    /// The event's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the event (auto reset), or pulses it (manual reset).
    pub fn signal(&self) -> Result<(), String> {
        // SAFETY: the handle is an open event.
        let done = unsafe {
            match self.reset {
                EventReset::Auto => SetEvent(self.handle),
                EventReset::Manual => PulseEvent(self.handle),
            }
        };
        if done == 0 {
            return Err(format!("cannot set the event {}", self.name));
        }
        Ok(())
    }

    /// Prints `set NAME` at each signal of the event, for ever (or until standard output
    /// fails: its reader is gone).
    pub fn forward_to_native(&self) {
        loop {
            // SAFETY: the handle is an open event, waited on with no timeout.
            if unsafe { WaitForSingleObject(self.handle, INFINITE) } != WAIT_OBJECT_0 {
                return;
            }
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "set {}", self.name)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return;
            }
            drop(stdout);
            if self.reset == EventReset::Manual {
                // Left set (not pulsed): report it again only once it has been reset.
                // SAFETY: the handle is an open event; a zero timeout only polls it.
                while unsafe { WaitForSingleObject(self.handle, 0) } != WAIT_TIMEOUT {
                    // SAFETY: plain sleep.
                    unsafe { Sleep(1) };
                }
            }
        }
    }
}

impl Drop for PrefixEvent {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by this value alone.
        unsafe { CloseHandle(self.handle) };
    }
}
