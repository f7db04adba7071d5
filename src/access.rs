//! The access markers that decide, at compile time, what a link may do with its region.

mod sealed {
    /// Keeps the set of access modes closed: the crate relies on there being exactly two.
    pub trait Sealed {}
}

/// An access mode of a [`SharedMemoryLink`](crate::SharedMemoryLink): [`ReadOnly`] or
/// [`ReadWrite`].
///
/// The trait is sealed: no other crate can add a mode.
///
/// ```
/// use win_shared_memory::{Access, ReadOnly, ReadWrite};
///
/// assert!(!ReadOnly::WRITABLE);
/// assert!(ReadWrite::WRITABLE);
/// ```
pub trait Access: sealed::Sealed + Send + Sync + 'static {
    /// Whether a link of this mode maps its region writable.
    const WRITABLE: bool;
    /// The mode's name, as shown by `Debug`.
    const NAME: &'static str;
}

/// Read-only access: the region is mapped read-only and only [`get`] is available. (On Linux a
/// `wait_for_change` of a sequence lock in it maps that one page writable too, to write the
/// lock's waiting word and nothing else; see
/// [`SeqLockReader::wait_for_change`](crate::sync::SeqLockReader::wait_for_change).)
///
/// [`get`]: crate::SharedMemoryLink::get
///
/// ```
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_read_only_{}", std::process::id());
/// let _writer = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
/// let reader: SharedMemoryLink<u32, ReadOnly> = SharedMemoryLink::open(&name)?;
/// // SAFETY: nothing writes the region while it is read.
/// assert_eq!(unsafe { *reader.get() }, 0);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
///
/// A read-only link has no `get_mut`:
///
/// ```compile_fail
/// use win_shared_memory::{ReadOnly, SharedMemoryLink};
///
/// let mut reader: SharedMemoryLink<u32, ReadOnly> = SharedMemoryLink::open("Local\\x").unwrap();
/// // SAFETY: nothing else touches the region (and this does not compile).
/// unsafe { *reader.get_mut() = 1 };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadOnly;

/// Read-write access: the region is mapped writable and both [`get`] and [`get_mut`] are
/// available.
///
/// [`get`]: crate::SharedMemoryLink::get
/// [`get_mut`]: crate::SharedMemoryLink::get_mut
///
/// ```
/// use win_shared_memory::{ReadWrite, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_read_write_{}", std::process::id());
/// let mut link: SharedMemoryLink<u64, ReadWrite> = SharedMemoryLink::create(&name)?;
/// // SAFETY: nothing else touches the region.
/// unsafe { *link.get_mut() = 7 };
/// // SAFETY: nothing writes the region while it is read.
/// assert_eq!(unsafe { *link.get() }, 7);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadWrite;

impl sealed::Sealed for ReadOnly {}
impl sealed::Sealed for ReadWrite {}

impl Access for ReadOnly {
    const WRITABLE: bool = false;
    const NAME: &'static str = "ReadOnly";
}

impl Access for ReadWrite {
    const WRITABLE: bool = true;
    const NAME: &'static str = "ReadWrite";
}
