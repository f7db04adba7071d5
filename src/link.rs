//! The typed handle to a named region.

use std::fmt;
use std::marker::PhantomData;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::access::{Access, ReadOnly, ReadWrite};
use crate::copy;
use crate::error::SharedMemoryError;
use crate::options::Options;
use crate::region::{Extent, SharedMemory};
use crate::sys;

/// A typed handle to a named shared memory region that holds one `T`.
///
/// The region is mapped into this process for as long as the link lives. Dropping the link
/// unmaps the view and closes the handle; the region itself lives as long as any process,
/// this one or another, holds a link (or, on Windows, any handle) to it, and no longer:
/// after the last one drops, the name is free and a new `create` starts from zeros.
///
/// `T` describes the region's layout, which every process must agree on: give it a stable
/// layout such as `#[repr(C)]`. A zero-sized `T` gets a region of one byte, since no OS can
/// make an empty one. `T`'s alignment must be at most 4096 bytes (the page size), or the
/// constructors return [`SharedMemoryError::Alignment`].
///
/// The access mode `A` is [`ReadOnly`] (from [`open`](Self::open)) or [`ReadWrite`] (from
/// [`create`](Self::create), [`get_or_create`](Self::get_or_create) and
/// [`open_existing`](Self::open_existing)); only `ReadWrite` links have
/// [`get_mut`](Self::get_mut).
///
/// ```
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// #[repr(C)]
/// struct GameState {
///     score: u32,
///     lives: u8,
/// }
///
/// # let name = format!("Local\\doc_link_{}", std::process::id());
/// let mut writer: SharedMemoryLink<GameState, ReadWrite> = SharedMemoryLink::create(&name)?;
/// // SAFETY: no other process writes this region while this borrow lives.
/// unsafe {
///     writer.get_mut().score = 42;
/// }
///
/// let reader: SharedMemoryLink<GameState, ReadOnly> = SharedMemoryLink::open(&name)?;
/// // SAFETY: as above; and every bit pattern is a valid GameState.
/// assert_eq!(unsafe { reader.get() }.score, 42);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
///
/// A value of many MiB is read with [`read_into`](Self::read_into) into a heap allocation
/// (zerocopy's `FromZeros::new_box_zeroed`, re-exported), not with [`read`](Self::read), whose
/// copy passes through the stack; the [`SeqLock`](crate::sync::SeqLock) and
/// [`DoubleBuffer`](crate::sync::DoubleBuffer) inside a link have `read_into` too.
pub struct SharedMemoryLink<T, A: Access = ReadOnly> {
    region: SharedMemory<A>,
    /// The link is `Send` when `T` is and `Sync` when `T` is, like a `Box<T>`: sending it sends
    /// access to the `T`, sharing it shares `&T`.
    _layout: PhantomData<T>,
}

impl<T> SharedMemoryLink<T, ReadOnly> {
    /// Opens an existing region for reading.
    ///
    /// Fails with [`SharedMemoryError::Open`] when no region has the name (or access is
    /// denied), and with [`SharedMemoryError::SizeMismatch`] when the region is smaller than
    /// `T`.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_open_{}", std::process::id());
    /// let missing = SharedMemoryLink::<u32, ReadOnly>::open(&name);
    /// assert!(matches!(missing, Err(SharedMemoryError::Open { .. })));
    ///
    /// let _writer = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<u32, ReadOnly>::open(&name)?;
    /// // SAFETY: nothing writes the region while it is read.
    /// assert_eq!(unsafe { *reader.get() }, 0);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn open(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_with(name, &Options::default())
    }

    /// [`open`](Self::open) with [`Options`]: with `require_owner`, a region another user
    /// owns is refused.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_open_with_{}", std::process::id());
    /// let _mine = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let options = Options::new().require_owner(cfg!(unix));
    /// SharedMemoryLink::<u32, ReadOnly>::open_with(&name, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_with(name: impl AsRef<str>, options: &Options) -> Result<Self, SharedMemoryError> {
        Self::open_with_access(name.as_ref(), options)
    }
}

impl<T> SharedMemoryLink<T, ReadWrite> {
    /// Creates a new, zero-filled region of `size_of::<T>()` bytes and maps it for reading and
    /// writing.
    ///
    /// Fails with [`SharedMemoryError::NameTaken`] when a live region already has the name;
    /// the existing region is left untouched.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_create_{}", std::process::id());
    /// let link = SharedMemoryLink::<[u64; 4], ReadWrite>::create(&name)?;
    /// // SAFETY: nothing writes the region while it is read.
    /// assert_eq!(unsafe { *link.get() }, [0; 4]);
    /// assert!(matches!(
    ///     SharedMemoryLink::<[u64; 4], ReadWrite>::create(&name),
    ///     Err(SharedMemoryError::NameTaken { .. })
    /// ));
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn create(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::create_with(name, &Options::default())
    }

    /// [`create`](Self::create) with [`Options`]: the mode (Unix) or security descriptor
    /// (Windows) the region gets.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_create_with_{}", std::process::id());
    /// let options = Options::new().mode(0o640).security_descriptor("D:(A;;GA;;;WD)");
    /// SharedMemoryLink::<u64, ReadWrite>::create_with(&name, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn create_with(
        name: impl AsRef<str>,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = name.as_ref();
        check_alignment::<T>(name)?;
        SharedMemory::create_new(name, region_size::<T>(), options).map(Self::typed)
    }

    /// Opens the region if one has the name, and creates it (zero-filled) if not.
    ///
    /// An existing region keeps its contents. Its size is whatever its creator chose: when it
    /// is smaller than `T`, this fails with [`SharedMemoryError::SizeMismatch`].
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_get_or_create_{}", std::process::id());
    /// let mut first = SharedMemoryLink::<u32, ReadWrite>::get_or_create(&name)?;
    /// // SAFETY: nothing else touches the region.
    /// unsafe { *first.get_mut() = 9 };
    /// let second = SharedMemoryLink::<u32, ReadWrite>::get_or_create(&name)?;
    /// // SAFETY: nothing writes the region while it is read.
    /// assert_eq!(unsafe { *second.get() }, 9);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn get_or_create(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::get_or_create_with(name, &Options::default())
    }

    /// [`get_or_create`](Self::get_or_create) with [`Options`]: they shape a new region, and
    /// `require_owner` checks an existing one.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_goc_with_{}", std::process::id());
    /// let options = Options::new().require_owner(cfg!(unix));
    /// SharedMemoryLink::<u64, ReadWrite>::get_or_create_with(&name, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn get_or_create_with(
        name: impl AsRef<str>,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = name.as_ref();
        check_alignment::<T>(name)?;
        let size = region_size::<T>();
        SharedMemory::get_or_create_extent(name, size, Extent::Exactly(size), options)
            .map(Self::typed)
    }

    /// Opens an existing region for reading and writing.
    ///
    /// Fails as [`open`](SharedMemoryLink::open) does.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_open_existing_{}", std::process::id());
    /// let creator = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let mut other = SharedMemoryLink::<u32, ReadWrite>::open_existing(&name)?;
    /// // SAFETY: nothing else touches the region.
    /// unsafe { *other.get_mut() += 1 };
    /// // SAFETY: nothing writes the region while it is read.
    /// assert_eq!(unsafe { *creator.get() }, 1);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn open_existing(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_existing_with(name, &Options::default())
    }

    /// [`open_existing`](Self::open_existing) with [`Options`], as
    /// [`open_with`](SharedMemoryLink::open_with).
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_open_existing_with_{}", std::process::id());
    /// let _mine = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let options = Options::new().require_owner(cfg!(unix));
    /// SharedMemoryLink::<u32, ReadWrite>::open_existing_with(&name, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_existing_with(
        name: impl AsRef<str>,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        Self::open_with_access(name.as_ref(), options)
    }

    /// A mutable reference to the shared value.
    ///
    /// The borrow checker keeps this process's own references apart (`&mut self`), but not
    /// other processes'.
    ///
    /// # Safety
    ///
    /// While the reference lives, no other process (and no other link to the same region in
    /// this process) may read or write the region: that would be a data race. Whatever is
    /// written must leave a valid `T` for every reader.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_get_mut_{}", std::process::id());
    /// let mut link = SharedMemoryLink::<(u32, u32), ReadWrite>::create(&name)?;
    /// // SAFETY: nothing else touches this region.
    /// unsafe { link.get_mut().1 = 5 };
    /// // SAFETY: nothing writes the region while it is read.
    /// assert_eq!(unsafe { *link.get() }, (0, 5));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub unsafe fn get_mut(&mut self) -> &mut T {
        // SAFETY: the view is writable, at least `size_of::<T>()` bytes long (checked when
        // opened) and aligned for `T` (pages are, and `T`'s alignment was checked); the
        // caller promises exclusive access and a valid `T`.
        unsafe { &mut *self.region.as_mut_ptr().cast::<T>() }
    }

    /// Copies `value` into the region: safe, because `T` has no padding and no interior
    /// mutability, so its bytes are all initialised and stable while they are copied.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_write_{}", std::process::id());
    /// let mut link = SharedMemoryLink::<[u32; 2], ReadWrite>::create(&name)?;
    /// link.write(&[4, 2]);
    /// assert_eq!(link.read(), [4, 2]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn write(&mut self, value: &T)
    where
        T: IntoBytes + Immutable,
    {
        // SAFETY: the view holds at least `size_of::<T>()` writable bytes (checked when
        // opened); `value` is memory of this process that `&T` keeps stable (`T: Immutable`).
        // A reader in another process may see a torn copy, which the plain-data contract allows.
        unsafe {
            copy::to_shared(
                value.as_bytes().as_ptr(),
                self.region.as_mut_ptr(),
                size_of::<T>(),
            )
        };
    }

    /// Gives up write access: a [`ReadOnly`] link to the same region, for code that should
    /// only read it.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_downgrade_{}", std::process::id());
    /// let link = SharedMemoryLink::<u16, ReadWrite>::create(&name)?;
    /// let reader: SharedMemoryLink<u16, ReadOnly> = link.downgrade();
    /// assert_eq!(reader.read(), 0);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn downgrade(self) -> SharedMemoryLink<T, ReadOnly> {
        SharedMemoryLink::typed(self.region.downgrade())
    }
}

impl<T, A: Access> SharedMemoryLink<T, A> {
    /// The untyped region beneath, for the synchronisation types' read-only halves and the
    /// versioned layout.
    pub(crate) fn region(&self) -> &SharedMemory<A> {
        &self.region
    }

    /// The untyped region beneath, to write the versioned layout.
    pub(crate) fn region_mut(&mut self) -> &mut SharedMemory<A> {
        &mut self.region
    }

    /// A reference to the shared value.
    ///
    /// # Safety
    ///
    /// While the reference lives, no process may write the region (that would be a data race),
    /// except through atomics or other `UnsafeCell` fields of `T`, and those only through a
    /// `ReadWrite` link: a `ReadOnly` link's view is mapped read-only, and writing it faults.
    /// The region's bytes must be a valid `T`: for a region that another process writes,
    /// every bit pattern should be a valid `T` (plain integers and floats, not `bool`, enums
    /// or references).
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_get_{}", std::process::id());
    /// let _writer = SharedMemoryLink::<[f32; 3], ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<[f32; 3], ReadOnly>::open(&name)?;
    /// // SAFETY: nothing writes the region while the copy is taken.
    /// let position = unsafe { *reader.get() };
    /// assert_eq!(position, [0.0; 3]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub unsafe fn get(&self) -> &T {
        // SAFETY: the view is at least `size_of::<T>()` bytes long (checked when opened) and
        // aligned for `T`; the caller promises no concurrent writer and a valid `T`.
        unsafe { &*self.region.as_ptr().cast::<T>() }
    }

    /// Copies the value out of the region: safe, because every bit pattern is a valid `T`, so
    /// whatever another process writes meanwhile, the copy is a `T` (perhaps a torn one).
    ///
    /// Types that are not plain data, such as `NonZeroU32`, `bool` or references, have no
    /// `read`: another process could have written any bytes.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_read_{}", std::process::id());
    /// let mut writer = SharedMemoryLink::<[f32; 2], ReadWrite>::create(&name)?;
    /// writer.write(&[7.0, 0.5]);
    /// assert_eq!(SharedMemoryLink::<[f32; 2], ReadOnly>::open(&name)?.read(), [7.0, 0.5]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read(&self) -> T
    where
        T: FromBytes,
    {
        // SAFETY: the view holds at least `size_of::<T>()` readable bytes (checked when
        // opened), and `T: FromBytes` makes any bytes a valid `T`.
        unsafe { copy::read_value(self.region.as_ptr()) }
    }

    /// Copies the value out of the region into `target`, as [`read`](Self::read) does but
    /// without a `T` on the stack: for values of many MiB, which `read` would copy through a
    /// stack they overflow. Allocate the target on the heap with zerocopy's
    /// [`FromZeros::new_box_zeroed`](zerocopy::FromZeros::new_box_zeroed), through the crate's
    /// re-export (`Box::new([0; N])` builds its array on the stack first), and write from it
    /// with [`write`](Self::write), which takes a reference. Its `AllocError` is not a
    /// `std::error::Error`, so `?` into a `Box<dyn Error>` does not take it: `expect` it, as
    /// std's own allocations abort when memory runs out.
    ///
    /// ```
    /// use win_shared_memory::zerocopy::FromZeros;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// type Frame = [u32; 4 << 20]; // 16 MiB
    /// # let name = format!("Local\\doc_link_read_into_{}", std::process::id());
    /// let mut writer = SharedMemoryLink::<Frame, ReadWrite>::create(&name)?;
    /// let mut frame = Frame::new_box_zeroed().expect("memory for it");
    /// frame[4 << 19] = 7;
    /// writer.write(&frame);
    ///
    /// let reader = SharedMemoryLink::<Frame, ReadOnly>::open(&name)?;
    /// let mut copy = Frame::new_box_zeroed().expect("memory for it");
    /// reader.read_into(&mut copy);
    /// assert_eq!(copy[4 << 19], 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_into(&self, target: &mut T)
    where
        T: FromBytes + IntoBytes,
    {
        let target = target.as_mut_bytes();
        // SAFETY: the view holds at least `size_of::<T>()` readable bytes (checked when
        // opened); `target` is memory of this process, borrowed exclusively, and `T: FromBytes`
        // makes whatever bytes arrive a valid `T`.
        unsafe { copy::from_shared(self.region.as_ptr(), target.as_mut_ptr(), target.len()) };
    }

    /// The size of the mapped value in bytes: `size_of::<T>()`, or 1 for a zero-sized `T`.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_len_{}", std::process::id());
    /// assert_eq!(SharedMemoryLink::<[u8; 12], ReadWrite>::create(&name)?.len(), 12);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    #[allow(clippy::len_without_is_empty, reason = "a region is never empty")]
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// The region's name, as given.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_name_{}", std::process::id());
    /// assert_eq!(SharedMemoryLink::<u8, ReadWrite>::create(&name)?.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.region.name()
    }

    /// The value's first byte.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_as_ptr_{}", std::process::id());
    /// let link = SharedMemoryLink::<u64, ReadWrite>::create(&name)?;
    /// assert!(link.as_ptr().cast::<u64>().is_aligned());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }

    /// Whether this link created the region (`false`: it found one under the name), which is
    /// how to tell what [`get_or_create`](SharedMemoryLink::get_or_create) did.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_created_{}", std::process::id());
    /// let first = SharedMemoryLink::<u32, ReadWrite>::get_or_create(&name)?;
    /// let second = SharedMemoryLink::<u32, ReadWrite>::get_or_create(&name)?;
    /// assert!(first.created() && !second.created());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn created(&self) -> bool {
        self.region.created()
    }

    /// Opens an existing region with this link's access, mapping the bytes of one `T`.
    fn open_with_access(name: &str, options: &Options) -> Result<Self, SharedMemoryError> {
        check_alignment::<T>(name)?;
        options
            .until_created(|| {
                SharedMemory::open_extent(name, Extent::Exactly(region_size::<T>()), options)
            })
            .map(Self::typed)
    }

    /// Wraps a region of at least `size_of::<T>()` bytes, aligned for `T`.
    fn typed(region: SharedMemory<A>) -> Self {
        Self {
            region,
            _layout: PhantomData,
        }
    }
}

impl<T, A: Access> fmt::Debug for SharedMemoryLink<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemoryLink")
            .field("name", &self.name())
            .field("type", &std::any::type_name::<T>())
            .field("size", &region_size::<T>())
            .field("access", &A::NAME)
            .finish_non_exhaustive()
    }
}

/// Refuses a `T` whose alignment a view cannot guarantee.
fn check_alignment<T>(name: &str) -> Result<(), SharedMemoryError> {
    if align_of::<T>() > sys::VIEW_ALIGN {
        return Err(SharedMemoryError::Alignment {
            name: name.to_owned(),
            align: align_of::<T>(),
        });
    }
    Ok(())
}

/// The bytes a region for `T` has: `T`'s size, and one byte for a zero-sized `T`, since no OS
/// makes empty regions.
fn region_size<T>() -> usize {
    size_of::<T>().max(1)
}
