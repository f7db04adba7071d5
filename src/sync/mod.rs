//! Cross-process synchronisation for values in shared regions.
//!
//! [`SeqLock`] lets one writer publish a value that any number of readers, in any processes,
//! copy consistently without locks.

mod event;
mod mutex;
mod seqlock;
mod versioned;

pub use event::{EventReset, NamedEvent};
pub use mutex::{LockError, NamedMutex, NamedMutexGuard};

pub use seqlock::{DEFAULT_PATIENCE, SeqLock, SeqLockError, SeqLockReader};
pub use versioned::Versioning;
