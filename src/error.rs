//! The crate's error types: [`SharedMemoryError`], and [`SeqLockError`], which the lock-free
//! copies of `sync` return and [`Inconsistent`](SharedMemoryError::Inconsistent) carries. Both
//! live here, on the ground floor, so that this module imports nothing from the modules built
//! on it; `sync` re-exports `SeqLockError` as its own.

use std::time::Duration;

use crate::sys;

/// The error the operating system reported: `windows::core::Error` on Windows (as in 0.1.0),
/// `std::io::Error` on Unix. Portable code names it through this alias.
///
/// ```
/// use win_shared_memory::{OsError, ReadOnly, SharedMemoryError, SharedMemoryLink};
///
/// fn os_cause(error: &SharedMemoryError) -> Option<&OsError> {
///     match error {
///         SharedMemoryError::Open { source, .. } => Some(source),
///         _ => None,
///     }
/// }
///
/// let missing = SharedMemoryLink::<u32, ReadOnly>::open("Local\\doc_os_error_never_created");
/// assert!(os_cause(&missing.unwrap_err()).is_some());
/// ```
pub type OsError = sys::OsError;

/// Everything that can go wrong when creating, opening or mapping a region.
///
/// Every error the crate returns names the region (or mutex, or event) as the user gave it.
/// The first five variants are those of 0.1.0, whose messages could not say which region
/// failed: they keep their shapes, so that `match` arms written against 0.1.0 keep compiling
/// (with a deprecation warning), but the crate returns [`Open`](Self::Open),
/// [`Create`](Self::Create), [`Map`](Self::Map), [`NameTaken`](Self::NameTaken) and
/// [`TooLarge`](Self::TooLarge) in their place (see the README's "Migrating from 0.1").
/// The enum is `#[non_exhaustive]`: later versions may add variants.
///
/// As std's errors do, a variant's message says what failed and where, and the cause (the OS's
/// error, or the [`SeqLockError`] behind
/// [`Inconsistent`](Self::Inconsistent)) is its [`source()`](std::error::Error::source), not
/// repeated in the message: print the chain to see both. For the common questions, such as "is
/// nothing there?", [`is_not_found`](Self::is_not_found),
/// [`is_permission_denied`](Self::is_permission_denied) and
/// [`is_already_exists`](Self::is_already_exists) answer the same on every OS.
///
/// ```
/// use std::error::Error;
/// use win_shared_memory::{ReadOnly, SharedMemoryLink};
///
/// let error = SharedMemoryLink::<u32, ReadOnly>::open("Local\\doc_error_chain_never_created")
///     .unwrap_err();
/// let mut report = error.to_string();
/// let mut cause = error.source();
/// while let Some(inner) = cause {
///     report += &format!(": {inner}");
///     cause = inner.source();
/// }
/// // On Linux: "cannot open shared memory region `Local\doc_error_chain_never_created`:
/// // nothing has the name (opening the /dev/shm object failed): open on
/// // `/dev/shm/doc_error_chain_never_created` failed (no region has the name): No such file or
/// // directory (os error 2)"; OpenFileMappingW and Windows' message on Windows.
/// assert!(error.to_string().contains("`Local\\doc_error_chain_never_created`"));
/// assert!(report.len() > error.to_string().len());
/// ```
///
/// ```
/// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_error_{}", std::process::id());
/// let _first = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
/// match SharedMemoryLink::<u32, ReadWrite>::create(&name) {
///     Err(SharedMemoryError::NameTaken { name: taken }) => assert_eq!(taken, name),
///     other => panic!("expected NameTaken, got {other:?}"),
/// }
/// # Ok::<(), SharedMemoryError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedMemoryError {
    /// 0.1.0's "opening failed", which did not say which region: the crate returns
    /// [`Open`](Self::Open) instead. Kept so that 0.1.0 code compiles; see the README's
    /// "Migrating from 0.1".
    #[deprecated(note = "no longer returned: match `Open { .. }`, or ask `is_not_found()`")]
    #[error("cannot open the shared memory region: {call} failed", call = sys::OPEN_CALL)]
    OpenMapping(#[source] OsError),

    /// 0.1.0's "creating failed": the crate returns [`Create`](Self::Create) instead. Kept so
    /// that 0.1.0 code compiles.
    #[deprecated(note = "no longer returned: match `Create { .. }`")]
    #[error("cannot create the shared memory region: {call} failed", call = sys::CREATE_CALL)]
    CreateMapping(#[source] OsError),

    /// 0.1.0's "mapping failed": the crate returns [`Map`](Self::Map) instead. Kept so that
    /// 0.1.0 code compiles.
    #[deprecated(note = "no longer returned: match `Map { .. }`")]
    #[error("cannot map the shared memory region: {call} failed", call = sys::MAP_CALL)]
    MapView(#[source] OsError),

    /// 0.1.0's "the name is taken", which did not say which name: the crate returns
    /// [`NameTaken`](Self::NameTaken) instead. Kept so that 0.1.0 code compiles.
    #[deprecated(
        note = "no longer returned: match `NameTaken { .. }`, or ask `is_already_exists()`"
    )]
    #[error("cannot create the shared memory region: the name is already taken")]
    AlreadyExists,

    /// 0.1.0's "size above 4 GiB". Never returned: regions above 4 GiB work on 64-bit systems,
    /// and a size this process cannot address is [`TooLarge`](Self::TooLarge), which names
    /// the region. Kept so that 0.1.0 code compiles.
    #[deprecated(note = "never returned: match `TooLarge { .. }`")]
    #[error("the shared memory region is larger than this process can address")]
    SizeTooLarge,

    /// Opening an existing region failed: no region has that name
    /// ([`is_not_found`](Self::is_not_found)), or access was denied
    /// ([`is_permission_denied`](Self::is_permission_denied)).
    #[error(
        "cannot open shared memory region `{name}`: {}",
        Cause(source, sys::OPEN_CALL)
    )]
    Open {
        /// The region's name, as given.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// Creating the region failed.
    #[error(
        "cannot create shared memory region `{name}`: {}",
        Cause(source, sys::CREATE_CALL)
    )]
    Create {
        /// The region's name, as given.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// Mapping a view of the region into this process failed.
    #[error(
        "cannot map shared memory region `{name}`: {}",
        Cause(source, sys::MAP_CALL)
    )]
    Map {
        /// The region's name, as given.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// [`create`](crate::SharedMemoryLink::create) was called with a name that a live region
    /// already has; that region is left as it was.
    #[error("cannot create shared memory region `{name}`: a live region already has the name")]
    NameTaken {
        /// The region's name, as given.
        name: String,
    },

    /// A region of more bytes than this process can address (above `isize::MAX`) was asked
    /// for, or found.
    #[error("shared memory region `{name}` of {len} bytes is larger than this process can address")]
    TooLarge {
        /// The region's name, as given.
        name: String,
        /// The size asked for, or the region's size.
        len: u64,
    },

    /// The name cannot name a region: it would be truncated, changed or refused by the
    /// operating system.
    #[error("invalid shared memory region name `{}`: {reason}", Escaped(name))]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The region exists but is smaller than the type it is opened as, so a view of that
    /// type would reach past its end.
    #[error(
        "shared memory region `{name}` is {actual} bytes, smaller than the {required} bytes of the type it is opened as"
    )]
    SizeMismatch {
        /// The region's name.
        name: String,
        /// The bytes the type needs.
        required: usize,
        /// The region's size as the operating system reports it (rounded up to a page
        /// under Wine; exact on Windows and Unix).
        actual: u64,
    },

    /// Asking the operating system for the region's size failed.
    #[error("cannot read the size of shared memory region `{name}`: {call} failed", call = sys::SIZE_CALL)]
    QuerySize {
        /// The region's name.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// A region of no bytes was asked for, or found: no OS maps one.
    #[error("shared memory region `{name}` would be empty, which no OS can map")]
    EmptyRegion {
        /// The region's name.
        name: String,
    },

    /// A view reaches past the end of the region.
    #[error(
        "{len} bytes at offset {offset} do not fit in shared memory region `{name}` of {region_len} bytes"
    )]
    OutOfBounds {
        /// The region's name.
        name: String,
        /// Where the view starts.
        offset: usize,
        /// The view's length in bytes (`usize::MAX` when it overflows).
        len: usize,
        /// The region's length.
        region_len: usize,
    },

    /// A view of a `T` would start at an address not aligned for `T`.
    #[error(
        "offset {offset} in shared memory region `{name}` is not aligned to the {align} bytes the type needs"
    )]
    Misaligned {
        /// The region's name.
        name: String,
        /// Where the view starts.
        offset: usize,
        /// The type's alignment.
        align: usize,
    },

    /// No consistent copy of a versioned region came out in time
    /// ([`read_versioned`](crate::SharedMemory::read_versioned)).
    #[error("no consistent copy of shared memory region `{name}` came out in time")]
    Inconsistent {
        /// The region's name.
        name: String,
        /// Why: the publisher stalled, or kept the reader starved.
        source: SeqLockError,
    },

    /// The [`Options`](crate::Options) cannot be honoured on this OS.
    #[error("invalid options for shared memory region `{name}`: {reason}")]
    InvalidOptions {
        /// The region's name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// The region exists but another user owns it, and the options required one's own
    /// ([`Options::require_owner`](crate::Options::require_owner)).
    #[error(
        "cannot open `{name}`: it is owned by another user (uid {owner}), and the options require one's own"
    )]
    ForeignOwner {
        /// The region's name.
        name: String,
        /// The owner's user id.
        owner: u32,
    },

    /// The security descriptor of the [`Options`](crate::Options) is not valid SDDL.
    #[error("invalid security descriptor for shared memory region `{name}`")]
    SecurityDescriptor {
        /// The region's name.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// A call on a named synchronisation object (mutex or event) failed.
    #[error("cannot use `{name}`: {}", Cause(source, call))]
    Synchronization {
        /// The object's name.
        name: String,
        /// The call that failed.
        call: &'static str,
        /// What the operating system reported.
        source: OsError,
    },

    /// A named mutex or event refused a call, or found its shared state unusable, for a reason
    /// of the crate's own rather than one the OS reported.
    #[error("cannot use `{name}`: {call} refused: {reason}")]
    SynchronizationRefused {
        /// The object's name.
        name: String,
        /// The call that was refused.
        call: &'static str,
        /// Why.
        reason: &'static str,
    },

    /// A [`NamedMutex`](crate::sync::NamedMutex) was granted after its previous holder died
    /// holding it, and the guard was given up by turning the
    /// [`LockError`](crate::sync::LockError) into this error: the mutex is unlocked again.
    #[error("the previous holder of mutex `{name}` died holding it; the lock was released")]
    OwnerDied {
        /// The mutex's name.
        name: String,
    },

    /// The type's alignment is larger than the page alignment every platform guarantees for
    /// a mapped view, so a reference to it could be misaligned.
    #[error(
        "cannot map shared memory region `{name}`: the type's alignment of {align} bytes exceeds the {max} bytes a view is guaranteed",
        max = sys::VIEW_ALIGN
    )]
    Alignment {
        /// The region's name.
        name: String,
        /// The type's alignment.
        align: usize,
    },
}

impl SharedMemoryError {
    /// Whether the operating system reported that nothing has the name: for
    /// [`open`](crate::SharedMemoryLink::open), usually that the publisher is not running. The
    /// same on every OS (`ERROR_FILE_NOT_FOUND` on Windows, `ENOENT` on Unix), so portable code
    /// need not match on [`OsError`].
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, SharedMemoryLink};
    ///
    /// let missing = SharedMemoryLink::<u32, ReadOnly>::open("Local\\doc_is_not_found_never_created");
    /// let error = missing.unwrap_err();
    /// assert!(error.is_not_found());
    /// assert!(!error.is_permission_denied());
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.os_error_kind() == Some(std::io::ErrorKind::NotFound)
    }

    /// Whether the operating system refused access: the region (or mutex, or event) exists
    /// but belongs to someone who did not grant this process what it asked for
    /// (`ERROR_ACCESS_DENIED` on Windows, `EACCES` or `EPERM` on Unix). A region refused by
    /// [`Options::require_owner`](crate::Options::require_owner) is
    /// [`ForeignOwner`](Self::ForeignOwner) instead.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_is_permission_denied_{}", std::process::id());
    /// let first = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// // Taken, not refused: only the OS's refusals count.
    /// let taken = SharedMemoryLink::<u32, ReadWrite>::create(&name).unwrap_err();
    /// assert!(!taken.is_permission_denied());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn is_permission_denied(&self) -> bool {
        self.os_error_kind() == Some(std::io::ErrorKind::PermissionDenied)
    }

    /// Whether the name was taken when a new region (or object) was to be made:
    /// [`NameTaken`](Self::NameTaken), or the same refusal reported by the operating
    /// system (`ERROR_ALREADY_EXISTS` on Windows, `EEXIST` on Unix).
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_is_already_exists_{}", std::process::id());
    /// let first = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let second = SharedMemoryLink::<u32, ReadWrite>::create(&name).unwrap_err();
    /// assert!(second.is_already_exists());
    /// assert!(!second.is_not_found());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn is_already_exists(&self) -> bool {
        #[allow(
            deprecated,
            reason = "0.1.0's variant, which a user may still construct"
        )]
        let taken = matches!(self, Self::NameTaken { .. } | Self::AlreadyExists);
        taken || self.os_error_kind() == Some(std::io::ErrorKind::AlreadyExists)
    }

    /// What kind of failure the operating system reported, for the variants that carry its
    /// error.
    fn os_error_kind(&self) -> Option<std::io::ErrorKind> {
        #[allow(
            deprecated,
            reason = "0.1.0's variants, which a user may still construct"
        )]
        match self {
            Self::OpenMapping(cause) | Self::CreateMapping(cause) | Self::MapView(cause) => {
                Some(sys::error_kind(cause))
            }
            Self::Open { source, .. }
            | Self::Create { source, .. }
            | Self::Map { source, .. }
            | Self::QuerySize { source, .. }
            | Self::SecurityDescriptor { source, .. }
            | Self::Synchronization { source, .. } => Some(sys::error_kind(source)),
            _ => None,
        }
    }
}

/// An OS error as the first line of a message says it: what it means, where the OS says
/// something common to every OS, and the call that failed. The OS's own text is the error's
/// `source()`.
struct Cause<'a>(&'a OsError, &'a str);

impl std::fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self(error, call) = self;
        match sys::error_kind(error) {
            std::io::ErrorKind::NotFound => write!(f, "nothing has the name ({call} failed)"),
            std::io::ErrorKind::PermissionDenied => write!(f, "access denied ({call} failed)"),
            std::io::ErrorKind::AlreadyExists => write!(f, "the name is taken ({call} failed)"),
            _ => write!(f, "{call} failed"),
        }
    }
}

/// A name as given, with its control characters (a NUL, a newline) escaped so that a message
/// stays one line; backslashes are left alone, so `Local\a` reads as written.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// What can keep a [`SeqLock`](crate::sync::SeqLock) operation (or a
/// [`DoubleBuffer`](crate::sync::DoubleBuffer)'s, or a versioned read's) from completing.
///
/// ```
/// use std::time::Duration;
/// use win_shared_memory::sync::SeqLockError;
/// use win_shared_memory::{ReadWrite, SharedMemory};
///
/// # let name = format!("Local\\doc_seqlock_error_{}", std::process::id());
/// let mut region = SharedMemory::<ReadWrite>::create(&name, 64)?;
/// // What a writer killed mid-write leaves behind: an odd sequence.
/// region.write_at(0, &1_u32)?;
/// let lock = region.seqlock_at::<u64>(0)?;
/// match lock.read_within(Duration::from_millis(10)) {
///     Err(SeqLockError::Stalled { completed_writes: 0, .. }) => lock.recover(&7)?,
///     other => panic!("expected Stalled, got {other:?}"),
/// }
/// assert_eq!(lock.read()?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeqLockError {
    /// The sequence stayed odd (a write in progress) for the whole wait: the writer stalled,
    /// or died mid-write. If it died, [`SeqLock::recover`](crate::sync::SeqLock::recover) lets
    /// a new writer take over.
    #[error(
        "the writer stalled in the middle of a write (after {completed_writes} complete ones) and was waited for {waited:?}"
    )]
    Stalled {
        /// How many writes had completed before the stalled one.
        completed_writes: u64,
        /// How long the operation waited.
        waited: Duration,
    },

    /// The writer kept writing (`writes` of them during the wait) and no copy fitted between two
    /// writes: publish less often, or read with more patience.
    #[error(
        "no consistent copy of the seqlock's value fitted between its writer's {writes} writes in {waited:?}"
    )]
    Starved {
        /// How many writes completed during the wait.
        writes: u64,
        /// How long the operation waited.
        waited: Duration,
    },

    /// Another writer declared this one dead
    /// ([`SeqLock::recover`](crate::sync::SeqLock::recover)) while it was writing, and took
    /// over: this write may be lost.
    #[error("the seqlock was recovered by another writer while this one was writing")]
    Superseded,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
    use std::io::ErrorKind;

    fn os_error(kind: ErrorKind) -> OsError {
        sys::error_of_kind(kind)
    }

    /// Every variant that carries an OS error, holding one of this kind.
    fn with_causes(kind: ErrorKind) -> Vec<SharedMemoryError> {
        let name = || "Local\\with_cause".to_owned();
        vec![
            SharedMemoryError::Open {
                name: name(),
                source: os_error(kind),
            },
            SharedMemoryError::Create {
                name: name(),
                source: os_error(kind),
            },
            SharedMemoryError::Map {
                name: name(),
                source: os_error(kind),
            },
            SharedMemoryError::QuerySize {
                name: name(),
                source: os_error(kind),
            },
            SharedMemoryError::SecurityDescriptor {
                name: name(),
                source: os_error(kind),
            },
            SharedMemoryError::Synchronization {
                name: name(),
                call: "WaitForSingleObject",
                source: os_error(kind),
            },
        ]
    }

    fn stalled_versioned_read() -> SharedMemoryError {
        SharedMemoryError::Inconsistent {
            name: "Local\\versioned".into(),
            source: SeqLockError::Stalled {
                completed_writes: 3,
                waited: Duration::from_millis(10),
            },
        }
    }

    #[test]
    fn a_cause_is_the_source_and_not_repeated_in_the_message() {
        let mut errors = with_causes(ErrorKind::NotFound);
        errors.push(stalled_versioned_read());
        for error in errors {
            let cause = error.source().expect("the cause is the source").to_string();
            assert!(!error.to_string().contains(&cause), "{error}");
        }
    }

    #[test]
    fn inconsistent_does_not_suggest_recover_which_only_seqlock_has() {
        let error = stalled_versioned_read();
        let chain = format!("{error}: {}", error.source().unwrap());
        assert!(!chain.contains("recover"), "{chain}");
    }

    #[test]
    fn predicates_read_the_os_cause_the_same_on_every_os() {
        let predicates = |error: &SharedMemoryError| {
            (
                error.is_not_found(),
                error.is_permission_denied(),
                error.is_already_exists(),
            )
        };
        for error in with_causes(ErrorKind::NotFound) {
            assert_eq!(predicates(&error), (true, false, false), "{error:?}");
        }
        for error in with_causes(ErrorKind::PermissionDenied) {
            assert_eq!(predicates(&error), (false, true, false), "{error:?}");
        }
        for error in with_causes(ErrorKind::AlreadyExists) {
            assert_eq!(predicates(&error), (false, false, true), "{error:?}");
        }
        let taken = SharedMemoryError::NameTaken {
            name: "Local\\taken".into(),
        };
        assert_eq!(predicates(&taken), (false, false, true));
        assert_eq!(predicates(&stalled_versioned_read()), (false, false, false));
    }
}
