//! The crate's error type.

use crate::sync::SeqLockError;
use crate::sys;

/// The error the operating system reported: `windows::core::Error` on Windows (as in 0.1.0),
/// `std::io::Error` on Unix. Portable code names it through this alias.
///
/// ```
/// use win_shared_memory::{OsError, ReadOnly, SharedMemoryError, SharedMemoryLink};
///
/// fn os_cause(error: &SharedMemoryError) -> Option<&OsError> {
///     match error {
///         SharedMemoryError::OpenMapping(cause) => Some(cause),
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
/// The first five variants are those of 0.1.0, with the same shapes, so that `match` arms
/// written against 0.1.0 keep compiling. The variants added since carry the region's name.
/// The enum is `#[non_exhaustive]`: later versions may add variants.
///
/// ```
/// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_error_{}", std::process::id());
/// let _first = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
/// match SharedMemoryLink::<u32, ReadWrite>::create(&name) {
///     Err(SharedMemoryError::AlreadyExists) => {}
///     other => panic!("expected AlreadyExists, got {other:?}"),
/// }
/// # Ok::<(), SharedMemoryError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedMemoryError {
    /// Opening an existing region failed: no region has that name, or access was denied.
    #[error("cannot open the shared memory region: {call} failed: {0}", call = sys::OPEN_CALL)]
    OpenMapping(OsError),

    /// Creating the region failed.
    #[error("cannot create the shared memory region: {call} failed: {0}", call = sys::CREATE_CALL)]
    CreateMapping(OsError),

    /// Mapping a view of the region into this process failed.
    #[error("cannot map the shared memory region: {call} failed: {0}", call = sys::MAP_CALL)]
    MapView(OsError),

    /// [`create`](crate::SharedMemoryLink::create) was called with a name that is already
    /// taken by a live region.
    #[error("cannot create the shared memory region: the name is already taken")]
    AlreadyExists,

    /// The region's size cannot be addressed by this process. Kept from 0.1.0, where it meant
    /// a size above 4 GiB; a typed link's size always fits, so no constructor returns it
    /// today.
    #[error("the shared memory region is larger than this process can address")]
    SizeTooLarge,

    /// The name cannot name a region: it would be truncated, changed or refused by the
    /// operating system.
    #[error("invalid shared memory region name {name:?}: {reason}")]
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
    #[error("cannot read the size of shared memory region `{name}`: {call} failed: {source}", call = sys::SIZE_CALL)]
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
    #[error("no consistent copy of shared memory region `{name}`: {source}")]
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
    #[error("shared memory region `{name}` is owned by another user (uid {owner})")]
    ForeignOwner {
        /// The region's name.
        name: String,
        /// The owner's user id.
        owner: u32,
    },

    /// The security descriptor of the [`Options`](crate::Options) is not valid SDDL.
    #[error("invalid security descriptor for shared memory region `{name}`: {source}")]
    SecurityDescriptor {
        /// The region's name.
        name: String,
        /// What the operating system reported.
        source: OsError,
    },

    /// A call on a named synchronisation object (mutex or event) failed.
    #[error("{call} failed on `{name}`: {source}")]
    Synchronization {
        /// The object's name.
        name: String,
        /// The call that failed.
        call: &'static str,
        /// What the operating system reported.
        source: OsError,
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
