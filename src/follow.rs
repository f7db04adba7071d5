//! Following a live publisher across its whole life: [`Follower`] waits for its region to
//! appear, tells when its publisher is live, hands over each new value, and tells when the
//! publisher is gone (or, for publishers that cannot say, has stopped updating), again and
//! again as the publisher restarts, so that a reader's loop handles events and nothing else.
//!
//! How it knows that the publisher lives ([`Liveness`]):
//!
//! - [`Liveness::WriterRole`], for publishers of this crate that take their region's writer
//!   role ([`SharedMemory::take_writer_role`](crate::SharedMemory::take_writer_role)): live
//!   while a process holds the role, gone once it dropped it or died, however it died. A
//!   follower looks every [`LIVENESS_CHECK`] while live, so a death is reported at most that
//!   long after it. Gone, the follower closes the region (it would otherwise keep a dead
//!   publisher's region alive, as Windows does) and opens the name again until a writer holds
//!   its role: a new region under the name, or the same one with a new writer. Each look holds
//!   the region for a moment, so a publisher that restarts opens it with `get_or_create` (a
//!   `create` in that moment would find the name taken). A writer that dies and is replaced
//!   within one look is one life.
//! - [`Liveness::Updates`], for publishers that know nothing of roles (games): live while
//!   their counters move, stale once they have not moved for the threshold given
//!   ([`DEFAULT_STALE_AFTER`] unless told), live again when they move. A pause longer than the
//!   threshold and a restart look the same from the counters; each return counts as a new
//!   life. Stale, the follower closes the region as a gone one's, and opens the name again at
//!   each look until the counters differ from the last it saw: the same region moving again,
//!   or a new one under the name.
//!
//! ```
//! use std::time::Duration;
//! use win_shared_memory::follow::{Followed, Follower};
//! use win_shared_memory::sync::SeqLock;
//! use win_shared_memory::{ReadWrite, SharedMemoryLink};
//!
//! # let name = format!("Local\\doc_follow_{}", std::process::id());
//! let mut follower = Follower::<f64>::seqlock(&name)?;
//! assert!(matches!(follower.next(Duration::ZERO)?, Some(Followed::Waiting)));
//!
//! // The publisher starts (here in the same process), takes its role and publishes.
//! let publisher = SharedMemoryLink::<SeqLock<f64>, ReadWrite>::create(&name)?;
//! let role = publisher.take_writer_role()?;
//! publisher.seqlock().write_as(&role, &42.0)?;
//! let wait = Duration::from_secs(10);
//! assert!(matches!(follower.next(wait)?, Some(Followed::Live { generation: 1 })));
//! assert!(matches!(follower.next(wait)?, Some(Followed::Update(&42.0))));
//!
//! drop(role); // or the publisher dies
//! assert!(matches!(follower.next(wait)?, Some(Followed::Gone)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::backoff::Backoff;
use crate::error::SeqLockError;
use crate::name::RegionName;
use crate::sync::{DoubleBuffer, SeqLock, Versioning};
use crate::{Options, ReadOnly, SharedMemory, SharedMemoryError, SharedMemoryLink};

/// How long a publisher followed by its updates may go without one before it is reported
/// stale: five times the longest interval between the updates of the games this crate's
/// bridge knows (rFactor 2's scoring, 5 a second; their telemetry comes 50 to 400 times).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(1);

/// How often a follower asks whether a publisher's writer role is still held, while it is
/// live ([`Liveness::WriterRole`]): the longest a death goes unreported.
pub const LIVENESS_CHECK: Duration = Duration::from_millis(16);

/// How long a follower retries a copy that writes overlap. Then writes that kept coming are
/// tried again soon, and a write that stayed in progress is waited out until the next update
/// (a writer that died mid-write is told by its role, or by its counters).
const READ_PATIENCE: Duration = Duration::from_millis(20);

/// How a [`Follower`] tells whether its publisher lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// By the region's writer role: live while a process holds it. For publishers that take it
    /// ([`SharedMemory::take_writer_role`](crate::SharedMemory::take_writer_role)); the
    /// default of [`Follower::seqlock`] and [`Follower::double_buffer`].
    WriterRole,
    /// By the publisher's own counters: live while they move, stale after `stale_after`
    /// without an update. For publishers that take no role (games, this crate's 0.2); the
    /// default of [`Follower::versioned`], with [`DEFAULT_STALE_AFTER`].
    Updates {
        /// How long without an update makes the publisher stale.
        stale_after: Duration,
    },
}

/// What a [`Follower`] reports, in the order it happens.
#[derive(Debug, PartialEq)]
pub enum Followed<'a, T> {
    /// No live publisher yet: the name does not exist, or no writer holds its role, or its
    /// counters have not moved. Reported once, first.
    Waiting,
    /// The publisher is live: the first time (`generation` 1), or again after it was gone or
    /// stale. The region's latest value follows as [`Update`](Self::Update) (followed by the
    /// writer role, a publisher that restarts in the region it had finds its last life's
    /// value there, which comes first).
    Live {
        /// Counts the lives seen, from 1.
        generation: u64,
    },
    /// A new value, consistent (never torn): the latest the publisher completed. Values
    /// written faster than the reader reads are skipped; [`Follower::updates`] counts them.
    Update(&'a T),
    /// The writer dropped its role or died ([`Liveness::WriterRole`]). The follower has closed
    /// the region and looks for the next publisher.
    Gone,
    /// No update for the threshold ([`Liveness::Updates`]): the publisher paused or died. The
    /// follower has closed the region and looks for its counters to move.
    Stale,
}

/// The sharing protocol of the followed value.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    SeqLock,
    DoubleBuffer,
    Versioned(Versioning),
}

/// The followed region, open.
enum Source<T> {
    SeqLock(SharedMemoryLink<SeqLock<T>, ReadOnly>),
    DoubleBuffer(SharedMemoryLink<DoubleBuffer<T>, ReadOnly>),
    Versioned(SharedMemoryLink<T, ReadOnly>, Versioning),
}

impl<T: FromBytes + IntoBytes + Immutable> Source<T> {
    fn open(protocol: Protocol, name: &str, options: &Options) -> Result<Self, SharedMemoryError> {
        Ok(match protocol {
            Protocol::SeqLock => Self::SeqLock(SharedMemoryLink::open_with(name, options)?),
            Protocol::DoubleBuffer => {
                Self::DoubleBuffer(SharedMemoryLink::open_with(name, options)?)
            }
            Protocol::Versioned(versioning) => {
                Self::Versioned(SharedMemoryLink::open_with(name, options)?, versioning)
            }
        })
    }

    /// The region, whatever its protocol.
    fn region(&self) -> &SharedMemory<ReadOnly> {
        match self {
            Self::SeqLock(link) => link.region(),
            Self::DoubleBuffer(link) => link.region(),
            Self::Versioned(link, _) => link.region(),
        }
    }

    /// The updates the publisher completed.
    fn updates(&self) -> Result<u64, SharedMemoryError> {
        match self {
            Self::SeqLock(link) => Ok(link.seqlock().version()),
            Self::DoubleBuffer(link) => Ok(link.double_buffer().version()),
            Self::Versioned(link, versioning) => link.versioned_updates(*versioning),
        }
    }

    /// The updates once they differ from `seen`; `None` after `timeout` without a change, or
    /// while a write stays in progress. Where it polls, `backoff` paces its looks across the
    /// follower's waits.
    fn wait(
        &self,
        seen: u64,
        timeout: Duration,
        backoff: &mut Backoff,
    ) -> Result<Option<u64>, SharedMemoryError> {
        let in_progress = |result: Result<Option<u64>, SeqLockError>| match result {
            Err(SeqLockError::Stalled { .. }) => Ok(None),
            other => other.map_err(|source| self.inconsistent(source)),
        };
        match self {
            Self::SeqLock(link) => {
                in_progress(link.seqlock().sequence().wait(seen, timeout, backoff))
            }
            Self::DoubleBuffer(link) => {
                in_progress(link.double_buffer().sequence().wait(seen, timeout, backoff))
            }
            Self::Versioned(_, versioning) => {
                self.region()
                    .wait_for_versioned_change_paced(*versioning, seen, timeout, backoff)
            }
        }
    }

    /// A consistent copy into `target`, tried for at most [`READ_PATIENCE`].
    fn read_into(&self, target: &mut T) -> Result<Copied, SharedMemoryError> {
        let copied = match self {
            Self::SeqLock(link) => link.seqlock().read_into(target, READ_PATIENCE),
            Self::DoubleBuffer(link) => link.double_buffer().read_into(target, READ_PATIENCE),
            Self::Versioned(link, versioning) => {
                match link.read_versioned_into(*versioning, target, READ_PATIENCE) {
                    Err(SharedMemoryError::Inconsistent { source, .. }) => Err(source),
                    other => Ok(other?),
                }
            }
        };
        match copied {
            Ok(()) => Ok(Copied::Whole),
            Err(SeqLockError::Starved { .. }) => Ok(Copied::Overlapped),
            Err(SeqLockError::Stalled { .. }) => Ok(Copied::Stalled),
            Err(source) => Err(self.inconsistent(source)),
        }
    }

    fn inconsistent(&self, source: SeqLockError) -> SharedMemoryError {
        SharedMemoryError::Inconsistent {
            name: self.region().name().to_owned(),
            source,
        }
    }
}

/// What came of a copy of the latest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copied {
    Whole,
    /// Writes kept overlapping it: tried again soon.
    Overlapped,
    /// A write in progress did not move: tried again after the next update, as that write may
    /// never end (a writer stopped mid-write, a peer that scribbled the counters).
    Stalled,
}

/// Where the follower is in the publisher's life, as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing reported yet.
    Start,
    Waiting,
    Live,
    Gone,
    Stale,
}

/// What [`Follower::step`] found, before it is lent out as a [`Followed`].
enum Found {
    Waiting,
    Live,
    Update,
    Gone,
    Stale,
}

/// A reader that follows a publisher's region across the publisher's life: it waits for the
/// region to appear, reports the publisher live, each new value, and the publisher gone or
/// stale, and starts over when the publisher restarts. The module's documentation says how it
/// tells life from death.
///
/// The latest value is kept in a heap allocation of the follower's, so values of many MiB
/// never touch the stack.
///
/// ```no_run
/// use std::time::Duration;
/// use win_shared_memory::follow::{Followed, Follower};
///
/// let mut follower = Follower::<[f32; 4]>::seqlock("Local\\telemetry")?;
/// loop {
///     match follower.next(Duration::from_millis(100))? {
///         Some(Followed::Waiting) => println!("waiting for the publisher"),
///         Some(Followed::Live { generation }) => println!("live (life {generation})"),
///         Some(Followed::Update(value)) => println!("{value:?}"),
///         Some(Followed::Gone) => println!("the publisher is gone"),
///         Some(Followed::Stale) => println!("no update for a while"),
///         None => {} // nothing new in 100 ms
///     }
/// }
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
pub struct Follower<T> {
    name: String,
    options: Options,
    protocol: Protocol,
    liveness: Liveness,
    source: Option<Source<T>>,
    phase: Phase,
    generation: u64,
    /// The pauses between looks (for a publisher, or where waits poll, for its news), longer
    /// the longer nothing happens.
    backoff: Backoff,
    track: Track<T>,
}

/// What the follower knows of the publisher's updates.
struct Track<T> {
    /// The latest value copied out.
    value: Box<T>,
    /// The publisher's completed updates at the last look.
    seen: u64,
    /// What came of the copy of `seen`'s value (`None`: not tried yet).
    copied: Option<Copied>,
    /// When the publisher's updates last moved, or its role was last seen held.
    last_sign: Instant,
}

impl<T: FromBytes + IntoBytes + Immutable> Track<T> {
    /// Copies the latest value out if the publisher completed an update since the last copy;
    /// whether it did.
    fn copy_news(
        &mut self,
        source: &Source<T>,
        liveness: Liveness,
    ) -> Result<bool, SharedMemoryError> {
        let updates = source.updates()?;
        if updates == self.seen && matches!(self.copied, Some(Copied::Whole | Copied::Stalled)) {
            return Ok(false);
        }
        if updates != self.seen {
            self.seen = updates;
            self.copied = None;
            if matches!(liveness, Liveness::Updates { .. }) {
                self.last_sign = Instant::now();
            }
        }
        // A new region holds no value until its first update.
        if updates == 0 {
            return Ok(false);
        }
        let copied = source.read_into(&mut self.value)?;
        self.copied = Some(copied);
        Ok(copied == Copied::Whole)
    }

    /// Whether the live publisher is dead (or stale), looking at its role at most every
    /// [`LIVENESS_CHECK`].
    fn dead(&mut self, source: &Source<T>, liveness: Liveness) -> Result<bool, SharedMemoryError> {
        let since = self.last_sign.elapsed();
        match liveness {
            Liveness::Updates { stale_after } => Ok(since >= stale_after),
            Liveness::WriterRole if since >= LIVENESS_CHECK => {
                let alive = source.region().writer_alive()?;
                self.last_sign = Instant::now();
                Ok(!alive)
            }
            Liveness::WriterRole => Ok(false),
        }
    }
}

impl<T: FromBytes + IntoBytes + Immutable> Follower<T> {
    /// A follower of a [`SeqLock<T>`] region (the whole region, as
    /// `SharedMemoryLink<SeqLock<T>, _>` maps it) whose publisher takes its writer role.
    ///
    /// ```
    /// use win_shared_memory::follow::Follower;
    ///
    /// let follower = Follower::<u64>::seqlock("Local\\doc_follow_seqlock")?;
    /// assert_eq!(follower.name(), "Local\\doc_follow_seqlock");
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn seqlock(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::new(name.as_ref(), Protocol::SeqLock, Liveness::WriterRole)
    }

    /// A follower of a [`DoubleBuffer<T>`] region whose publisher takes its writer role.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::follow::{Followed, Follower};
    /// use win_shared_memory::sync::DoubleBuffer;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_follow_double_buffer_{}", std::process::id());
    /// let publisher = SharedMemoryLink::<DoubleBuffer<[u8; 3]>, ReadWrite>::create(&name)?;
    /// let role = publisher.take_writer_role()?;
    /// publisher.double_buffer().write_as(&role, &[1, 2, 3])?;
    /// let mut follower = Follower::<[u8; 3]>::double_buffer(&name)?;
    /// assert!(matches!(follower.next(Duration::from_secs(10))?, Some(Followed::Live { .. })));
    /// assert!(matches!(follower.next(Duration::from_secs(10))?, Some(Followed::Update([1, 2, 3]))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn double_buffer(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::new(name.as_ref(), Protocol::DoubleBuffer, Liveness::WriterRole)
    }

    /// A follower of a region holding a `T` that its publisher versions itself, as games do
    /// ([`SharedMemoryLink::read_versioned`]); followed by its updates, stale after
    /// [`DEFAULT_STALE_AFTER`] without one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::follow::{Followed, Follower};
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_follow_versioned_{}", std::process::id());
    /// // rFactor 2's layout: begin and end counters, then the data.
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// let mut game = SharedMemoryLink::<[u32; 3], ReadWrite>::create(&name)?;
    /// let mut follower = Follower::<[u32; 3]>::versioned(&name, versioning)?
    ///     .stale_after(Duration::from_millis(50));
    /// assert!(matches!(follower.next(Duration::ZERO)?, Some(Followed::Waiting)));
    /// game.write_versioned(versioning, &[0, 0, 90])?;
    /// let wait = Duration::from_secs(10);
    /// assert!(matches!(follower.next(wait)?, Some(Followed::Live { generation: 1 })));
    /// assert!(matches!(follower.next(wait)?, Some(Followed::Update([1, 1, 90]))));
    /// assert!(matches!(follower.next(wait)?, Some(Followed::Stale))); // 50 ms without one
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn versioned(
        name: impl AsRef<str>,
        versioning: Versioning,
    ) -> Result<Self, SharedMemoryError> {
        let liveness = Liveness::Updates {
            stale_after: DEFAULT_STALE_AFTER,
        };
        Self::new(name.as_ref(), Protocol::Versioned(versioning), liveness)
    }

    fn new(name: &str, protocol: Protocol, liveness: Liveness) -> Result<Self, SharedMemoryError> {
        RegionName::new(name)?;
        let value = T::new_box_zeroed().map_err(|_| SharedMemoryError::TooLarge {
            name: name.to_owned(),
            len: size_of::<T>() as u64,
        })?;
        Ok(Self {
            name: name.to_owned(),
            options: Options::new(),
            protocol,
            liveness,
            source: None,
            phase: Phase::Start,
            generation: 0,
            backoff: Backoff::default(),
            track: Track {
                value,
                seen: 0,
                copied: None,
                last_sign: Instant::now(),
            },
        })
    }

    /// Opens the region with these options (for example
    /// [`linux_host`](Options::linux_host) under Wine); their
    /// [`wait_for_creation`](Options::wait_for_creation) is the follower's own business, and
    /// ignored.
    ///
    /// ```
    /// use win_shared_memory::Options;
    /// use win_shared_memory::follow::Follower;
    ///
    /// let follower = Follower::<u64>::seqlock("Local\\doc_follow_options")?
    ///     .options(&Options::new().require_owner(cfg!(unix)));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn options(mut self, options: &Options) -> Self {
        self.options = options.clone().opening_once();
        self
    }

    /// Tells life from death as `liveness` says, instead of the default.
    ///
    /// ```
    /// use win_shared_memory::follow::{Follower, Liveness};
    ///
    /// // A SeqLock whose publisher (this crate's 0.2) takes no role.
    /// let follower = Follower::<u64>::seqlock("Local\\doc_follow_liveness")?
    ///     .liveness(Liveness::Updates { stale_after: std::time::Duration::from_secs(3) });
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// Follows by updates ([`Liveness::Updates`]), stale after `threshold` without one.
    /// Example on [`versioned`](Self::versioned).
    pub fn stale_after(self, threshold: Duration) -> Self {
        self.liveness(Liveness::Updates {
            stale_after: threshold,
        })
    }

    /// The region's name, as given.
    ///
    /// ```
    /// use win_shared_memory::follow::Follower;
    ///
    /// let follower = Follower::<u8>::double_buffer("Local\\doc_follow_name")?;
    /// assert_eq!(follower.name(), "Local\\doc_follow_name");
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many updates the publisher had completed when the latest value was copied: after a
    /// [`Followed::Update`], `updates() - 1` minus the previous one's is how many it skipped.
    /// It starts again from the publisher's count after a restart.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::follow::Follower;
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_follow_updates_{}", std::process::id());
    /// let publisher = SharedMemoryLink::<SeqLock<u8>, ReadWrite>::create(&name)?;
    /// let role = publisher.take_writer_role()?;
    /// for value in 1..=3 {
    ///     publisher.seqlock().write_as(&role, &value)?;
    /// }
    /// let mut follower = Follower::<u8>::seqlock(&name)?;
    /// follower.next(Duration::from_secs(10))?; // live
    /// follower.next(Duration::from_secs(10))?; // the value
    /// assert_eq!((follower.updates(), follower.latest()), (3, Some(&3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn updates(&self) -> u64 {
        self.track.seen
    }

    /// The latest value reported in the publisher's current life (or its last, once it is gone
    /// or stale). Example on [`updates`](Self::updates).
    pub fn latest(&self) -> Option<&T> {
        (self.track.copied == Some(Copied::Whole)).then_some(&*self.track.value)
    }

    /// Waits at most `timeout` for the next thing to report, and reports it; `None` when
    /// nothing happened in time. Errors are those of opening the region (a region too small
    /// for the protocol's value, access denied) and reading it; a writer that stalls or dies
    /// mid-write is not an error, but shows as no update, then as the publisher gone or stale.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::follow::{Followed, Follower};
    ///
    /// let mut follower = Follower::<u64>::seqlock("Local\\doc_follow_next_never_created")?;
    /// assert_eq!(follower.next(Duration::ZERO)?, Some(Followed::Waiting));
    /// assert_eq!(follower.next(Duration::from_millis(20))?, None);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn next(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Followed<'_, T>>, SharedMemoryError> {
        let deadline = Instant::now().checked_add(timeout);
        let found = loop {
            if let Some(found) = self.step()? {
                break Some(found);
            }
            let left = match deadline {
                None => Duration::MAX,
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            };
            if left.is_zero() {
                break None;
            }
            self.idle(left)?;
        };
        Ok(found.map(|found| match found {
            Found::Waiting => Followed::Waiting,
            Found::Live => Followed::Live {
                generation: self.generation,
            },
            Found::Update => Followed::Update(&*self.track.value),
            Found::Gone => Followed::Gone,
            Found::Stale => Followed::Stale,
        }))
    }

    /// Looks once, without waiting: what there is to report, if anything.
    fn step(&mut self) -> Result<Option<Found>, SharedMemoryError> {
        if !self.attach()? {
            return Ok(self.report_waiting());
        }
        let Some(source) = &self.source else {
            return Ok(None);
        };
        match (self.phase, self.liveness) {
            (Phase::Live, liveness) => {
                if self.track.copy_news(source, liveness)? {
                    return Ok(Some(Found::Update));
                }
                if self.track.dead(source, liveness)? {
                    return Ok(Some(self.lose()));
                }
                Ok(None)
            }
            (_, Liveness::WriterRole) if source.region().writer_alive()? => {
                Ok(Some(self.revive(0)))
            }
            // Moving: a new life, whose first value is this update.
            (_, Liveness::Updates { .. }) if source.updates()? != self.track.seen => {
                let seen = self.track.seen;
                Ok(Some(self.revive(seen)))
            }
            _ => {
                // Not ours to keep alive: look again later.
                self.source = None;
                Ok(self.report_waiting())
            }
        }
    }

    /// Opens the region if it exists and is not open; whether it is open. A region found at
    /// the first look, to follow by updates, starts from its counters as found: they are where
    /// the publisher stands, not an update. Later looks compare with the counters last seen.
    fn attach(&mut self) -> Result<bool, SharedMemoryError> {
        if self.source.is_some() {
            return Ok(true);
        }
        let source = match Source::open(self.protocol, &self.name, &self.options) {
            Ok(source) => source,
            Err(error) if error.is_not_found() => return Ok(false),
            // Made but not yet sized by its creator (macOS).
            Err(SharedMemoryError::EmptyRegion { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        if matches!(self.liveness, Liveness::Updates { .. }) && self.phase == Phase::Start {
            self.track.seen = source.updates()?;
        }
        self.source = Some(source);
        Ok(true)
    }

    /// Reports waiting if nothing was reported yet.
    fn report_waiting(&mut self) -> Option<Found> {
        (self.phase == Phase::Start).then(|| {
            self.phase = Phase::Waiting;
            Found::Waiting
        })
    }

    /// The publisher is live again; its values count from `seen` updates.
    fn revive(&mut self, seen: u64) -> Found {
        self.backoff = Backoff::default();
        self.phase = Phase::Live;
        self.generation += 1;
        self.track.seen = seen;
        self.track.copied = None;
        self.track.last_sign = Instant::now();
        Found::Live
    }

    /// The publisher is gone or stale: reports it, and closes its region, which a dead
    /// publisher's follower must not keep alive.
    fn lose(&mut self) -> Found {
        self.backoff = Backoff::default();
        self.source = None;
        match self.liveness {
            Liveness::WriterRole => {
                self.phase = Phase::Gone;
                Found::Gone
            }
            Liveness::Updates { .. } => {
                self.phase = Phase::Stale;
                Found::Stale
            }
        }
    }

    /// Waits at most `left` for something to look at: a change of the live publisher's updates
    /// (no longer than its next liveness check), or the next look for a publisher (the region
    /// is open only while its publisher is live).
    fn idle(&mut self, left: Duration) -> Result<(), SharedMemoryError> {
        let track = &self.track;
        let Some(source) = &self.source else {
            std::thread::sleep(left.min(self.backoff.pause()));
            return Ok(());
        };
        let until_check = match self.liveness {
            Liveness::WriterRole => LIVENESS_CHECK,
            Liveness::Updates { stale_after } => stale_after,
        }
        .saturating_sub(track.last_sign.elapsed());
        let left = left.min(until_check);
        match track.copied {
            // A copy that writes overlapped: try again soon.
            Some(Copied::Overlapped) => std::thread::sleep(left.min(crate::backoff::POLL)),
            // A write in progress that does not move (where a wait for the next update would
            // look at the counter every millisecond): look again, less and less often.
            Some(Copied::Stalled) => std::thread::sleep(left.min(self.backoff.pause())),
            _ => {
                if source.wait(track.seen, left, &mut self.backoff)?.is_some() {
                    self.backoff = Backoff::default();
                }
            }
        }
        Ok(())
    }
}

impl<T> fmt::Debug for Follower<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follower")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("liveness", &self.liveness)
            .field("phase", &self.phase)
            .field("generation", &self.generation)
            .field("updates", &self.track.seen)
            .finish_non_exhaustive()
    }
}
