//! An event shared by name across processes, to signal "new data".

use std::fmt;
use std::time::Duration;

use crate::SharedMemoryError;
use crate::name::RegionName;

/// What a successful wait does to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReset {
    /// A wait that sees the event set resets it: each [`set`](NamedEvent::set) releases one
    /// waiter.
    Auto,
    /// The event stays set, releasing every waiter, until [`reset`](NamedEvent::reset).
    Manual,
}

/// An event that processes share by name: one process sets it, others wait for it.
///
/// - Windows: a named event (`CreateEventW`), so it interoperates with programs that signal
///   one, such as iRacing's `Local\IRSDKDataValidEvent`.
/// - Linux: a futex on a word in a region of the crate's own named `<name>#event`, with the
///   crate's region lifetime.
/// - Other Unix systems (macOS): the same word, polled every millisecond while waiting, as
///   they have no futex that processes can share.
///
/// The reset mode is chosen by whoever creates the event; opening an existing one keeps its
/// mode, as on Windows.
///
/// On Unix the event is one word, set or unset, so two Windows subtleties differ: a `set`
/// quickly undone by a `reset` may release no sleeping waiter (Windows releases those already
/// waiting), and several `set`s of an auto-reset event before any waiter runs release one
/// waiter, not one each. Use it to signal "something new", with the data itself in a region
/// (a [`SeqLock`](super::SeqLock)), as the example does. On macOS the event's region belongs
/// to the handle that created it: once that handle drops, later handles get a new event.
///
/// ```
/// use std::time::Duration;
/// use win_shared_memory::sync::{EventReset, NamedEvent};
///
/// # let name = format!("Local\\doc_event_{}", std::process::id());
/// let published = NamedEvent::new(&name, EventReset::Auto)?;
/// let waiter = NamedEvent::new(&name, EventReset::Auto)?;
/// assert!(!waiter.wait_timeout(Duration::from_millis(10))?);
/// published.set()?;
/// assert!(waiter.wait_timeout(Duration::from_secs(1))?);
/// // An auto-reset event released its one waiter and is unset again.
/// assert!(!waiter.wait_timeout(Duration::ZERO)?);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
pub struct NamedEvent {
    inner: imp::Event,
    name: String,
}

impl NamedEvent {
    /// Opens the event of that name, creating it (unset, with `reset`) if no process has it.
    ///
    /// ```
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_new_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Manual)?;
    /// assert_eq!(event.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn new(name: impl AsRef<str>, reset: EventReset) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name.as_ref())?;
        Ok(Self {
            inner: imp::Event::open_or_create(&name, reset)?,
            name: name.as_str().to_owned(),
        })
    }

    /// The event's name, as given.
    ///
    /// ```
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_name_{}", std::process::id());
    /// assert_eq!(NamedEvent::new(&name, EventReset::Auto)?.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the event, releasing one waiter (auto-reset) or all of them (manual-reset).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_set_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Manual)?;
    /// event.set()?;
    /// assert!(event.wait_timeout(Duration::ZERO)?);
    /// assert!(event.wait_timeout(Duration::ZERO)?); // manual: still set
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn set(&self) -> Result<(), SharedMemoryError> {
        self.inner.set().map_err(|error| self.failed(error))
    }

    /// Unsets the event.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_reset_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Manual)?;
    /// event.set()?;
    /// event.reset()?;
    /// assert!(!event.wait_timeout(Duration::ZERO)?);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn reset(&self) -> Result<(), SharedMemoryError> {
        self.inner.reset().map_err(|error| self.failed(error))
    }

    /// Waits until the event is set, as long as it takes.
    ///
    /// ```
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_wait_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Auto)?;
    /// event.set()?;
    /// event.wait()?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn wait(&self) -> Result<(), SharedMemoryError> {
        self.inner
            .wait(None)
            .map(drop)
            .map_err(|error| self.failed(error))
    }

    /// Waits at most `timeout` for the event; `false` if the time ran out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_wait_timeout_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Auto)?;
    /// assert!(!event.wait_timeout(Duration::from_millis(5))?);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, SharedMemoryError> {
        self.inner
            .wait(Some(timeout))
            .map_err(|error| self.failed(error))
    }

    fn failed(&self, (call, source): (&'static str, crate::OsError)) -> SharedMemoryError {
        SharedMemoryError::Synchronization {
            name: self.name.clone(),
            call,
            source,
        }
    }
}

impl fmt::Debug for NamedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedEvent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(windows)]
mod imp {
    //! A Win32 named event.

    use std::time::Duration;

    use windows::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
    use windows::Win32::System::Threading::{CreateEventW, ResetEvent, SetEvent};
    use windows::core::PCWSTR;

    use super::EventReset;
    use crate::name::RegionName;
    use crate::{OsError, SharedMemoryError};

    pub(super) struct Event(HANDLE);

    // SAFETY: an event handle may be used and closed from any thread.
    unsafe impl Send for Event {}
    // SAFETY: setting, resetting and waiting are thread-safe kernel calls.
    unsafe impl Sync for Event {}

    impl Event {
        pub(super) fn open_or_create(
            name: &RegionName,
            reset: EventReset,
        ) -> Result<Self, SharedMemoryError> {
            let manual = reset == EventReset::Manual;
            // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; default
            // security; created unset.
            let handle =
                unsafe { CreateEventW(None, manual, false, PCWSTR(name.encoded().as_ptr())) }
                    .map_err(|source| SharedMemoryError::Synchronization {
                        name: name.as_str().to_owned(),
                        call: "CreateEventW",
                        source,
                    })?;
            Ok(Self(handle))
        }

        pub(super) fn set(&self) -> Result<(), (&'static str, OsError)> {
            // SAFETY: the handle is an open event.
            unsafe { SetEvent(self.0) }.map_err(|error| ("SetEvent", error))
        }

        pub(super) fn reset(&self) -> Result<(), (&'static str, OsError)> {
            // SAFETY: the handle is an open event.
            unsafe { ResetEvent(self.0) }.map_err(|error| ("ResetEvent", error))
        }

        pub(super) fn wait(
            &self,
            timeout: Option<Duration>,
        ) -> Result<bool, (&'static str, OsError)> {
            match super::super::wait_for_object(self.0, timeout) {
                WAIT_OBJECT_0 => Ok(true),
                WAIT_TIMEOUT => Ok(false),
                _ => Err(("WaitForSingleObject", OsError::from_thread())),
            }
        }
    }

    impl Drop for Event {
        fn drop(&mut self) {
            // SAFETY: the handle is open, owned by this value, and closed only here.
            let _ = unsafe { CloseHandle(self.0) };
        }
    }
}

#[cfg(unix)]
mod imp {
    //! A word in a region of the crate's own: 1 while set. Linux sleeps on it with a futex;
    //! other systems poll it.

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use super::EventReset;
    use crate::name::RegionName;
    use crate::{OsError, ReadWrite, SharedMemory, SharedMemoryError};

    /// The region's layout: the state word, and the reset mode its creator chose.
    #[repr(C)]
    struct Shared {
        set: AtomicU32,
        mode: AtomicU32,
    }

    /// `mode` values; 0 means the creator has not written it yet.
    const AUTO: u32 = 1;
    const MANUAL: u32 = 2;

    /// How long an opener waits for a creator that is writing the mode.
    const INITIALISATION: Duration = Duration::from_secs(1);

    pub(super) struct Event {
        shared: *const Shared,
        manual: bool,
        /// Keeps the region mapped (and alive) while the handle lives.
        _region: SharedMemory<ReadWrite>,
    }

    // SAFETY: the pointer is into the region this value owns, and only atomics are used
    // through it.
    unsafe impl Send for Event {}
    // SAFETY: as above.
    unsafe impl Sync for Event {}

    impl Event {
        pub(super) fn open_or_create(
            name: &RegionName,
            reset: EventReset,
        ) -> Result<Self, SharedMemoryError> {
            let region_name = format!("{}#event", name.as_str());
            let mut region =
                SharedMemory::<ReadWrite>::get_or_create(&region_name, size_of::<Shared>())?;
            let shared = region.as_mut_ptr().cast::<Shared>().cast_const();
            // SAFETY: the region holds a `Shared` (size checked, pages aligned) of atomics,
            // valid for any bytes, for as long as `region` lives.
            let mode = unsafe { &(*shared).mode };
            if region.created() {
                let value = if reset == EventReset::Manual {
                    MANUAL
                } else {
                    AUTO
                };
                mode.store(value, Ordering::Release);
            }
            let started = Instant::now();
            let manual = loop {
                match mode.load(Ordering::Acquire) {
                    AUTO => break false,
                    MANUAL => break true,
                    _ if started.elapsed() > INITIALISATION => {
                        return Err(SharedMemoryError::Synchronization {
                            name: name.as_str().to_owned(),
                            call: "open",
                            source: OsError::other(
                                "the event's creator never finished creating it",
                            ),
                        });
                    }
                    _ => std::thread::sleep(Duration::from_millis(1)),
                }
            };
            Ok(Self {
                shared,
                manual,
                _region: region,
            })
        }

        fn word(&self) -> &AtomicU32 {
            // SAFETY: `shared` points into the region this value keeps mapped.
            unsafe { &(*self.shared).set }
        }

        pub(super) fn set(&self) -> Result<(), (&'static str, OsError)> {
            self.word().store(1, Ordering::Release);
            // The kernel reads the count as a signed int: "all" is i32::MAX, not u32::MAX (-1).
            wake(self.word(), if self.manual { i32::MAX as u32 } else { 1 })
        }

        pub(super) fn reset(&self) -> Result<(), (&'static str, OsError)> {
            self.word().store(0, Ordering::Release);
            Ok(())
        }

        pub(super) fn wait(
            &self,
            timeout: Option<Duration>,
        ) -> Result<bool, (&'static str, OsError)> {
            let started = Instant::now();
            loop {
                let taken = if self.manual {
                    self.word().load(Ordering::Acquire) == 1
                } else {
                    self.word()
                        .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                };
                if taken {
                    return Ok(true);
                }
                let remaining = match timeout {
                    None => None,
                    Some(timeout) => match timeout.checked_sub(started.elapsed()) {
                        Some(remaining) if !remaining.is_zero() => Some(remaining),
                        _ => return Ok(false),
                    },
                };
                sleep_while_unset(self.word(), remaining)?;
            }
        }
    }

    /// Wakes up to `count` waiters on `word`, in any process.
    #[cfg(target_os = "linux")]
    fn wake(word: &AtomicU32, count: u32) -> Result<(), (&'static str, OsError)> {
        use rustix::thread::futex;
        // Not PRIVATE: the waiters are in other processes.
        futex::wake(word, futex::Flags::empty(), count)
            .map(drop)
            .map_err(|error| ("futex(FUTEX_WAKE)", error.into()))
    }

    /// Sleeps until `word` may have changed from 0 or `limit` passes.
    #[cfg(target_os = "linux")]
    fn sleep_while_unset(
        word: &AtomicU32,
        limit: Option<Duration>,
    ) -> Result<(), (&'static str, OsError)> {
        use rustix::io::Errno;
        use rustix::thread::futex;
        let limit = limit.map(|limit| futex::Timespec {
            tv_sec: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(limit.subsec_nanos()),
        });
        match futex::wait(word, futex::Flags::empty(), 0, limit.as_ref()) {
            Ok(()) | Err(Errno::AGAIN | Errno::INTR | Errno::TIMEDOUT) => Ok(()),
            Err(error) => Err(("futex(FUTEX_WAIT)", error.into())),
        }
    }

    /// Waiters poll, so there is no one to wake.
    #[cfg(not(target_os = "linux"))]
    fn wake(_word: &AtomicU32, _count: u32) -> Result<(), (&'static str, OsError)> {
        Ok(())
    }

    /// Polls: a millisecond's sleep, or less if `limit` is nearer.
    #[cfg(not(target_os = "linux"))]
    fn sleep_while_unset(
        _word: &AtomicU32,
        limit: Option<Duration>,
    ) -> Result<(), (&'static str, OsError)> {
        let tick = Duration::from_millis(1);
        std::thread::sleep(limit.map_or(tick, |limit| limit.min(tick)));
        Ok(())
    }
}
