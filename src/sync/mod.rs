//! Cross-process synchronisation for values in shared regions.
//!
//! - [`SeqLock`] lets one writer publish a value that any number of readers, in any processes,
//!   copy consistently without locks ([`SeqLockReader`] for read-only regions), and
//!   [`Versioning`] does the same for regions that games version themselves
//!   ([`SharedMemory::read_versioned`](crate::SharedMemory::read_versioned)); [`DoubleBuffer`]
//!   is a two-slot snapshot for large values written often.
//! - [`NamedMutex`] excludes processes by name and tells the next locker when a holder died
//!   ([`LockError::OwnerDied`]).
//! - [`NamedEvent`] lets one process signal others, by name ([`EventReset`]).
//!
//! The mutex and the event are Win32 named objects on Windows. On Unix they keep their state in
//! a small region of the crate's own beside their name (`<name>#mutex`, `<name>#event`), its
//! *companion*, which holds integers only: whatever another process writes there, the calls
//! return an answer or an error, never corrupt this process's memory.
//!
//! Code layout: `mutex/` and `event/` hold the public types (`mod.rs`) and one file per platform:
//! `windows.rs`; for the mutex `linux.rs` and `portable.rs` (other Unix systems such as macOS,
//! also built on Linux with `--cfg wsm_portable`); for the event `unix.rs`, its word, which
//! sleeps with Linux's futex or `portable.rs`'s polling. `companion.rs` opens the Unix companion
//! regions, `futex.rs` is Linux's sleep and wake, `win32.rs` Windows' wait and the security of
//! new objects.
//!
//! The lock-free copies stand on one engine. `sequence.rs`, private, holds the sequence counter,
//! the writer's and the reader's sides of its protocol and the wait that retries a refused copy,
//! and never touches the data (its loom model brings a payload of its own). On it stand
//! `seqlock.rs` (`SeqLock`), `double_buffer.rs` (`DoubleBuffer`) and `versioned.rs`
//! (`read_versioned`): each lays out and copies its data with `crate::copy`, and imports the
//! engine, not one another. Their error, `SeqLockError`, is defined on the crate's ground floor,
//! `error.rs`, beside the `SharedMemoryError` that carries it, and re-exported here.

#[cfg(unix)]
mod companion;
mod double_buffer;
mod event;
#[cfg(wsm_holder_locks)]
mod futex;
mod mutex;
mod poll;
mod role;
mod seqlock;
mod sequence;
mod versioned;
#[cfg(windows)]
mod win32;

/// Sleeping until a word in shared memory changes: Linux's futex, which the writer wakes, or
/// elsewhere (no futex that processes share) polling.
#[cfg(wsm_holder_locks)]
use futex as word_sleep;
#[cfg(not(wsm_holder_locks))]
use poll as word_sleep;

pub use double_buffer::{DoubleBuffer, DoubleBufferReader};
pub use event::{EventReset, NamedEvent};
pub use mutex::{LockError, NamedMutex, NamedMutexGuard};

pub use crate::error::SeqLockError;
pub use role::WriterRole;
pub use seqlock::{SeqLock, SeqLockReader};
pub use sequence::DEFAULT_PATIENCE;
pub use versioned::Versioning;

/// Why a platform call on a mutex or event failed, before the public type names the object.
pub(crate) enum Failure {
    /// The OS refused `call`.
    Os(&'static str, crate::OsError),
    /// The crate refused `call`, for the reason given.
    Refused(&'static str, &'static str),
}

impl Failure {
    /// The public error, naming the object.
    fn named(self, name: &str) -> crate::SharedMemoryError {
        let name = name.to_owned();
        match self {
            Self::Os(call, source) => {
                crate::SharedMemoryError::Synchronization { name, call, source }
            }
            Self::Refused(call, reason) => {
                crate::SharedMemoryError::SynchronizationRefused { name, call, reason }
            }
        }
    }
}

/// How a sleep on a word ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woke {
    /// Woken, interrupted, or the word no longer held the value: look again.
    Early,
    /// The time ran out with the word still holding the value.
    TimedOut,
}
