//! An event shared by name across processes, to signal "new data".

use std::fmt;
use std::time::Duration;

use super::Failure;
use crate::name::RegionName;
use crate::{Options, SharedMemoryError};

#[cfg(wsm_holder_locks)]
mod slots;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use super::word_sleep as sleep;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use self::windows as imp;

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
/// - Windows: a named event (`CreateEventExW`, `OpenEventW`), so it interoperates with
///   programs that signal one, such as iRacing's `Local\IRSDKDataValidEvent`.
/// - Linux: a futex on a word in a region of the crate's own named `<name>#event`, with the
///   crate's region lifetime; an auto-reset event's waiters register in slots after the word
///   and sleep on their own. A waiter sleeps on whatever value its word holds, so no value
///   another process writes makes it spin.
/// - Other Unix systems (macOS): the same word, polled every millisecond while waiting, as
///   they have no futex that processes can share.
///
/// The reset mode is chosen by whoever creates the event; opening an existing one keeps its
/// mode, as on Windows ([`open`](Self::open) never creates one).
///
/// Every backend has Windows' semantics: a `set` releases every thread and process waiting at
/// that moment, however soon a [`reset`](Self::reset) follows (a pulse of a manual-reset
/// event); each `set` of an auto-reset event releases exactly one waiter, or leaves the event
/// set for the next wait, and setting a set event changes nothing. A conformance suite checks
/// this natively, on the portable backend and under Wine. On Linux an auto-reset waiter
/// registers in a slot of the event's object and locks it while it waits: a `set` releases the
/// oldest waiter asleep, never one that comes after it, and forgets one that was killed. Two
/// differences remain on macOS (and on Linux beyond 128 waiters at once), where waiters
/// register in a word rather than in the kernel: a release that a `set` hands to the waiters
/// may be taken by a thread that starts waiting after the `set` (a poll with a zero timeout,
/// say) rather than by the one already asleep; and a waiter killed mid-wait stays registered,
/// so that each such death makes one more `set` of an idle event release a waiter rather than
/// find the event set. An event says "something new"; keep the data itself in a region (a
/// [`SeqLock`](super::SeqLock)), as the example does. On macOS the event's region belongs to
/// the handle that created it: once that handle drops, later handles get a new event.
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
    /// Opens the event of that name, creating it (unset, with `reset`) if no process has it,
    /// with the default [`Options`]: on Unix its object is owner-only and one another user
    /// made is refused ([`SharedMemoryError::ForeignOwner`]).
    ///
    /// ```
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_new_{}", std::process::id());
    /// let event = NamedEvent::new(&name, EventReset::Manual)?;
    /// assert_eq!(event.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn new(name: impl AsRef<str>, reset: EventReset) -> Result<Self, SharedMemoryError> {
        Self::new_with(name, reset, &Options::default())
    }

    /// [`new`](Self::new) with [`Options`]: on Unix the mode a new `<name>#event` object gets,
    /// and whether one another user owns is accepted (`require_owner(false)`; refused by
    /// default); on Windows the security descriptor of a new event.
    ///
    /// ```
    /// use win_shared_memory::Options;
    /// use win_shared_memory::sync::{EventReset, NamedEvent};
    ///
    /// # let name = format!("Local\\doc_event_new_with_{}", std::process::id());
    /// // Every user may wait for it and set it.
    /// let shared = Options::new().mode(0o666).security_descriptor("D:(A;;GA;;;WD)");
    /// let event = NamedEvent::new_with(&name, EventReset::Auto, &shared)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn new_with(
        name: impl AsRef<str>,
        reset: EventReset,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name.as_ref())?;
        Ok(Self {
            inner: imp::Event::open_or_create(&name, reset, options)?,
            name: name.as_str().to_owned(),
        })
    }

    /// Opens the existing event of that name, with the reset mode its creator chose; never
    /// creates one, so a program that starts before the event's owner does not make it with
    /// a mode of its own. No event under the name is an error for which
    /// [`SharedMemoryError::Synchronization`]'s source is "not found". On Windows the handle
    /// has only the rights to wait and to set (`SYNCHRONIZE`, `EVENT_MODIFY_STATE`).
    ///
    /// ```
    /// # use win_shared_memory::sync::{EventReset, NamedEvent};
    /// # let name = format!("Local\\doc_event_open_{}", std::process::id());
    /// assert!(NamedEvent::open(&name).is_err()); // nobody made it yet
    /// let owner = NamedEvent::new(&name, EventReset::Manual)?;
    /// let opened = NamedEvent::open(&name)?;
    /// owner.set()?;
    /// opened.wait()?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_with(name, &Options::default())
    }

    /// [`open`](Self::open) with [`Options`]: on Unix, `require_owner(false)` accepts an event
    /// that another user made (refused by default); the mode and security descriptor are for
    /// creating, so they do not matter here.
    ///
    /// ```
    /// use win_shared_memory::Options;
    /// use win_shared_memory::sync::{EventReset, NamedEvent};
    ///
    /// # let name = format!("Local\\doc_event_open_with_{}", std::process::id());
    /// let _owner = NamedEvent::new(&name, EventReset::Auto)?;
    /// let anyones = Options::new().require_owner(false);
    /// let event = NamedEvent::open_with(&name, &anyones)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_with(name: impl AsRef<str>, options: &Options) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name.as_ref())?;
        Ok(Self {
            inner: options.until_created(|| imp::Event::open(&name, options))?,
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

    fn failed(&self, failure: Failure) -> SharedMemoryError {
        failure.named(&self.name)
    }
}

impl fmt::Debug for NamedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedEvent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(tag: &str) -> String {
        format!("Local\\wsm_event_unit_{tag}_{}", std::process::id())
    }

    /// A waiter asleep through two `set`s takes the first one's release, and the second
    /// leaves the event set once, as on Windows: a third `set` of the set event changes
    /// nothing, and exactly one later poll finds it set.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn a_waiter_takes_its_release_and_the_event_stays_set_once() {
        let name = unique("once");
        let event = NamedEvent::new(&name, EventReset::Auto).unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let mine = NamedEvent::open(&name).unwrap();
                mine.wait_timeout(Duration::from_secs(20)).unwrap()
            });
            std::thread::sleep(Duration::from_millis(200));
            event.set().unwrap();
            event.set().unwrap();
            assert!(waiter.join().unwrap());
        });
        event.set().unwrap();
        let polls = [
            event.wait_timeout(Duration::ZERO).unwrap(),
            event.wait_timeout(Duration::ZERO).unwrap(),
        ];
        assert_eq!(polls, [true, false]);
    }

    /// The longest timeout is no overflow: it waits as long as it takes.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn the_longest_timeout_waits_without_overflow() {
        for reset in [EventReset::Auto, EventReset::Manual] {
            let event = NamedEvent::new(unique(&format!("{reset:?}")), reset).unwrap();
            event.set().unwrap();
            assert!(event.wait_timeout(Duration::MAX).unwrap());
        }
    }
}
