//! The untyped handle to a named region whose size is known only at run time.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::access::{Access, ReadOnly, ReadWrite};
use crate::copy;
use crate::error::SharedMemoryError;
use crate::name::RegionName;
use crate::options::Options;
use crate::sys::{self, Disposition};

/// A handle to a named shared memory region of a size chosen at run time: a buffer of N
/// samples, or a mapping whose size its creator decided.
///
/// It has the lifetime rules and access modes of [`SharedMemoryLink`](crate::SharedMemoryLink):
/// the region lives while any process holds it, and only [`ReadWrite`] handles can write.
/// Values are reached through checked views: a `T` at an offset ([`get_at`](Self::get_at)) or a
/// `[T]` of a length ([`get_slice`](Self::get_slice)), refused with
/// [`SharedMemoryError::OutOfBounds`] or [`SharedMemoryError::Misaligned`] when they do not fit,
/// and, for plain-data types, safe copies in and out ([`read_at`](Self::read_at),
/// [`write_at`](Self::write_at)).
///
/// ```
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
///
/// # let name = format!("Local\\doc_region_{}", std::process::id());
/// let samples = 1000;
/// let mut writer = SharedMemory::<ReadWrite>::create(&name, samples * 4)?;
/// writer.write_at(8, &2.5_f32)?;
///
/// let reader = SharedMemory::<ReadOnly>::open(&name)?;
/// assert!(reader.len() >= 4000);
/// assert_eq!(reader.read_at::<f32>(8)?, 2.5);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
pub struct SharedMemory<A: Access = ReadOnly> {
    /// A writable second view of a read-only one, made when a waiting reader first needs it
    /// ([`writable_word`](Self::writable_word)); unmapped before `mapping`, as fields drop in
    /// order.
    alias: OnceLock<Option<sys::Alias>>,
    mapping: sys::Mapping,
    name: RegionName,
    len: usize,
    created: bool,
    _access: PhantomData<A>,
}

// SAFETY: the handle owns its mapping and OS handle, both usable from any thread; it hands out
// `&T`/`&mut T` only through `unsafe` accessors whose callers answer for `T`, and copies of
// plain data otherwise.
unsafe impl<A: Access> Send for SharedMemory<A> {}

// SAFETY: through `&self` it only reads (copies, or `&T` from an `unsafe` accessor).
unsafe impl<A: Access> Sync for SharedMemory<A> {}

/// How much of an existing region to map.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extent {
    /// The first `n` bytes, which the region must have.
    Exactly(usize),
    /// All of it, which must be at least `n` bytes.
    Whole { at_least: usize },
}

impl SharedMemory<ReadOnly> {
    /// Opens an existing region for reading; [`len`](Self::len) is its size.
    ///
    /// The size is the one the OS reports: exact on Windows and Unix, rounded up to a page
    /// under Wine.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_open_{}", std::process::id());
    /// let _writer = SharedMemory::<ReadWrite>::create(&name, 8192)?;
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// assert_eq!(reader.len(), 8192);
    /// assert!(!reader.created());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_with(name, &Options::default())
    }

    /// [`open`](Self::open) with [`Options`]: with `require_owner`, a region another user
    /// owns is refused ([`SharedMemoryError::ForeignOwner`]).
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_open_with_{}", std::process::id());
    /// let _mine = SharedMemory::<ReadWrite>::create(&name, 8)?;
    /// let options = Options::new().require_owner(cfg!(unix));
    /// assert_eq!(SharedMemory::<ReadOnly>::open_with(&name, &options)?.len(), 8);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_with(name: impl AsRef<str>, options: &Options) -> Result<Self, SharedMemoryError> {
        options.until_created(|| {
            Self::open_extent(name.as_ref(), Extent::Whole { at_least: 1 }, options)
        })
    }
}

impl SharedMemory<ReadWrite> {
    /// Creates a new, zero-filled region of `len` bytes.
    ///
    /// Fails with [`SharedMemoryError::NameTaken`] when a live region has the name, with
    /// [`SharedMemoryError::EmptyRegion`] when `len` is 0, and with
    /// [`SharedMemoryError::TooLarge`] when `len` exceeds `isize::MAX`.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_create_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 100)?;
    /// assert_eq!((region.len(), region.created()), (100, true));
    /// assert_eq!(region.read_at::<[u8; 4]>(96)?, [0; 4]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn create(name: impl AsRef<str>, len: usize) -> Result<Self, SharedMemoryError> {
        Self::create_with(name, len, &Options::default())
    }

    /// [`create`](Self::create) with [`Options`]: the mode (Unix) or security descriptor
    /// (Windows) the region gets.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_create_with_{}", std::process::id());
    /// let readable_by_all = Options::new().mode(0o644);
    /// let region = SharedMemory::<ReadWrite>::create_with(&name, 16, &readable_by_all)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn create_with(
        name: impl AsRef<str>,
        len: usize,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        Self::create_new(name.as_ref(), len, options)
    }

    /// Opens the region if one has the name (it must have at least `len` bytes; its whole size
    /// is mapped), and creates a zero-filled one of `len` bytes if not.
    /// [`created`](SharedMemory::created) tells which happened.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_goc_{}", std::process::id());
    /// let first = SharedMemory::<ReadWrite>::get_or_create(&name, 64)?;
    /// let second = SharedMemory::<ReadWrite>::get_or_create(&name, 16)?;
    /// assert!(first.created() && !second.created());
    /// assert_eq!(second.len(), 64);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn get_or_create(name: impl AsRef<str>, len: usize) -> Result<Self, SharedMemoryError> {
        Self::get_or_create_with(name, len, &Options::default())
    }

    /// [`get_or_create`](Self::get_or_create) with [`Options`]: they shape a new region, and
    /// `require_owner` checks an existing one.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_goc_with_{}", std::process::id());
    /// let options = Options::new().mode(0o600).require_owner(cfg!(unix));
    /// let region = SharedMemory::<ReadWrite>::get_or_create_with(&name, 16, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn get_or_create_with(
        name: impl AsRef<str>,
        len: usize,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        Self::get_or_create_extent(name.as_ref(), len, Extent::Whole { at_least: len }, options)
    }

    /// Opens an existing region for reading and writing; [`len`](SharedMemory::len) is its size.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_open_existing_{}", std::process::id());
    /// let creator = SharedMemory::<ReadWrite>::create(&name, 16)?;
    /// let mut other = SharedMemory::<ReadWrite>::open_existing(&name)?;
    /// other.write_at(0, &7_u64)?;
    /// assert_eq!(creator.read_at::<u64>(0)?, 7);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_existing(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_existing_with(name, &Options::default())
    }

    /// [`open_existing`](Self::open_existing) with [`Options`], as
    /// [`open_with`](SharedMemory::open_with).
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_open_existing_with_{}", std::process::id());
    /// let _mine = SharedMemory::<ReadWrite>::create(&name, 8)?;
    /// let options = Options::new().require_owner(cfg!(unix));
    /// SharedMemory::<ReadWrite>::open_existing_with(&name, &options)?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn open_existing_with(
        name: impl AsRef<str>,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        options.until_created(|| {
            Self::open_extent(name.as_ref(), Extent::Whole { at_least: 1 }, options)
        })
    }

    /// The region's first byte, for writing.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_as_mut_ptr_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 4)?;
    /// // SAFETY: in bounds, and nothing else touches the region.
    /// unsafe { region.as_mut_ptr().add(3).write(9) };
    /// assert_eq!(region.read_at::<u8>(3)?, 9);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.mapping.as_ptr().as_ptr()
    }

    /// A mutable reference to the `T` at `offset`, checked against the region's bounds and
    /// `T`'s alignment.
    ///
    /// # Safety
    ///
    /// As [`SharedMemoryLink::get_mut`](crate::SharedMemoryLink::get_mut): while the reference
    /// lives nobody else reads or writes those bytes, and what is written leaves a valid `T`.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_get_mut_at_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 16)?;
    /// // SAFETY: nothing else touches the region.
    /// unsafe { *region.get_mut_at::<u32>(4)? = 3 };
    /// // SAFETY: the view is refused before anything is touched.
    /// assert!(unsafe { region.get_mut_at::<u32>(2) }.is_err()); // misaligned
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub unsafe fn get_mut_at<T>(&mut self, offset: usize) -> Result<&mut T, SharedMemoryError> {
        let mut ptr = self.checked::<T>(offset, 1)?;
        // SAFETY: `checked` proved the bytes in bounds and aligned for `T`; the view is
        // writable; the caller promises exclusive access and a valid `T`.
        Ok(unsafe { ptr.as_mut() })
    }

    /// A mutable slice of `count` values of `T` at `offset`, checked as
    /// [`get_mut_at`](Self::get_mut_at) is.
    ///
    /// # Safety
    ///
    /// As [`get_mut_at`](Self::get_mut_at).
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_get_mut_slice_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    /// // SAFETY: nothing else touches the region.
    /// unsafe { region.get_mut_slice::<u16>(0, 32)? }.fill(1);
    /// // SAFETY: the view is refused before anything is touched.
    /// assert!(unsafe { region.get_mut_slice::<u16>(0, 33) }.is_err()); // past the end
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub unsafe fn get_mut_slice<T>(
        &mut self,
        offset: usize,
        count: usize,
    ) -> Result<&mut [T], SharedMemoryError> {
        let ptr = self.checked::<T>(offset, count)?;
        // SAFETY: as in `get_mut_at`, for `count` values.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), count) })
    }

    /// Copies `value` into the region at `offset`: safe, because `T` has no padding and no
    /// interior mutability, so its bytes are all initialised and stable while copied.
    /// `offset` needs no alignment.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_write_at_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 8)?;
    /// region.write_at(1, &[1_u8, 2, 3])?;
    /// region.write_at(4, [9_u8, 9].as_slice())?; // slices too
    /// assert!(region.write_at(6, &[0_u8; 3]).is_err()); // past the end
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn write_at<T: IntoBytes + Immutable + ?Sized>(
        &mut self,
        offset: usize,
        value: &T,
    ) -> Result<(), SharedMemoryError> {
        let bytes = value.as_bytes();
        let start = self.bounds(offset, bytes.len())?;
        // SAFETY: `bounds` proved the range inside the writable view; `bytes` is memory of this
        // process that `&T` keeps stable (`T: Immutable`). A concurrent reader in another
        // process may see a torn copy, which is what the plain-data contract allows.
        unsafe { copy::to_shared(bytes.as_ptr(), start.as_ptr(), bytes.len()) };
        Ok(())
    }

    /// Creates a region of `len` bytes; [`NameTaken`](SharedMemoryError::NameTaken)
    /// if the name is taken, whose holders keep it as it was.
    pub(crate) fn create_new(
        name: &str,
        len: usize,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name)?;
        let (section, disposition) = create_section(&name, len, options)?;
        match disposition {
            Disposition::Created => Self::map(name, section, len, true),
            // Dropping the section closes our handle: the region stays its holders'.
            Disposition::Existing => Err(SharedMemoryError::NameTaken {
                name: name.as_str().to_owned(),
            }),
        }
    }

    /// Creates a region of `len` bytes, or maps `existing` of the one that has the name.
    pub(crate) fn get_or_create_extent(
        name: &str,
        len: usize,
        existing: Extent,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name)?;
        let (section, disposition) = create_section(&name, len, options)?;
        match disposition {
            Disposition::Created => Self::map(name, section, len, true),
            Disposition::Existing => {
                check_owner(&name, &section, options)?;
                let len = mapped_len(&name, &section, existing)?;
                Self::map(name, section, len, false)
            }
        }
    }

    /// Gives up write access: a [`ReadOnly`] handle to the same region, for code that should
    /// only read it.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_downgrade_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 8)?;
    /// let reader: SharedMemory<ReadOnly> = region.downgrade();
    /// assert_eq!(reader.read_at::<u64>(0)?, 0);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn downgrade(self) -> SharedMemory<ReadOnly> {
        SharedMemory {
            alias: self.alias,
            mapping: self.mapping,
            name: self.name,
            len: self.len,
            created: self.created,
            _access: PhantomData,
        }
    }
}

impl<A: Access> SharedMemory<A> {
    /// The usable size in bytes.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_len_{}", std::process::id());
    /// assert_eq!(SharedMemory::<ReadWrite>::create(&name, 10)?.len(), 10);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    #[allow(clippy::len_without_is_empty, reason = "a region is never empty")]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The region's name, as given.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_name_{}", std::process::id());
    /// assert_eq!(SharedMemory::<ReadWrite>::create(&name, 1)?.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The checked name, in this OS's encoding too (the macOS writer role's lock file).
    #[cfg(all(unix, not(wsm_holder_locks)))]
    pub(crate) fn region_name(&self) -> &RegionName {
        &self.name
    }

    /// Whether this handle created the region (`false`: it found one under the name).
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_created_{}", std::process::id());
    /// let creator = SharedMemory::<ReadWrite>::get_or_create(&name, 1)?;
    /// assert!(creator.created());
    /// assert!(!SharedMemory::<ReadOnly>::open(&name)?.created());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }

    /// The region's first byte.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_as_ptr_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 1)?;
    /// // SAFETY: in bounds, and nothing writes the region.
    /// assert_eq!(unsafe { region.as_ptr().read() }, 0);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.mapping.as_ptr().as_ptr()
    }

    /// A reference to the `T` at `offset`, checked against the region's bounds and `T`'s
    /// alignment.
    ///
    /// # Safety
    ///
    /// As [`SharedMemoryLink::get`](crate::SharedMemoryLink::get): while the reference lives
    /// nobody writes those bytes (but through atomics, from a `ReadWrite` handle), and they are
    /// a valid `T`.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory, SharedMemoryError};
    ///
    /// # let name = format!("Local\\doc_region_get_at_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 32)?;
    /// // SAFETY: nothing writes the region.
    /// assert_eq!(unsafe { *region.get_at::<u64>(8)? }, 0);
    /// // SAFETY: the view is refused before anything is read.
    /// assert!(matches!(
    ///     unsafe { region.get_at::<u64>(12) },
    ///     Err(SharedMemoryError::Misaligned { .. })
    /// ));
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub unsafe fn get_at<T>(&self, offset: usize) -> Result<&T, SharedMemoryError> {
        let ptr = self.checked::<T>(offset, 1)?;
        // SAFETY: `checked` proved the bytes in bounds and aligned for `T`; the caller promises
        // no concurrent writer and a valid `T`.
        Ok(unsafe { ptr.as_ref() })
    }

    /// A slice of `count` values of `T` at `offset`, checked as [`get_at`](Self::get_at) is.
    ///
    /// # Safety
    ///
    /// As [`get_at`](Self::get_at).
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory, SharedMemoryError};
    ///
    /// # let name = format!("Local\\doc_region_get_slice_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 40)?;
    /// // SAFETY: nothing writes the region.
    /// assert_eq!(unsafe { region.get_slice::<f32>(0, 10)? }, &[0.0; 10]);
    /// // SAFETY: the view is refused before anything is read.
    /// assert!(matches!(
    ///     unsafe { region.get_slice::<f32>(4, 10) },
    ///     Err(SharedMemoryError::OutOfBounds { .. })
    /// ));
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub unsafe fn get_slice<T>(
        &self,
        offset: usize,
        count: usize,
    ) -> Result<&[T], SharedMemoryError> {
        let ptr = self.checked::<T>(offset, count)?;
        // SAFETY: as in `get_at`, for `count` values.
        Ok(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), count) })
    }

    /// Copies the `T` at `offset` out of the region: safe, because every bit pattern is a valid
    /// `T`, so whatever another process writes meanwhile, the copy is a `T` (perhaps a torn
    /// one: use a [`SeqLock`]-style protocol for consistent copies). `offset` needs no
    /// alignment.
    ///
    /// [`SeqLock`]: https://en.wikipedia.org/wiki/Seqlock
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_read_at_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 8)?;
    /// region.write_at(3, &0x0102_u16)?;
    /// assert_eq!(region.read_at::<u16>(3)?, 0x0102);
    /// assert!(region.read_at::<u64>(1).is_err()); // past the end
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_at<T: FromBytes>(&self, offset: usize) -> Result<T, SharedMemoryError> {
        let start = self.bounds(offset, size_of::<T>())?;
        // SAFETY: `bounds` proved the range inside the view, which is readable; the copy goes
        // into a value of this process, with no alignment needed. `T: FromBytes` makes any
        // bytes, torn or not, a valid `T`.
        Ok(unsafe { copy::read_value(start.as_ptr()) })
    }

    /// Copies `target.len()` bytes at `offset` out of the region into `target`: for ranges
    /// whose length is known only at run time, as [`write_at`](SharedMemory::write_at) takes
    /// slices. Like [`read_at`](Self::read_at), the copy may be torn by a concurrent writer.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_region_read_bytes_at_{}", std::process::id());
    /// let mut writer = SharedMemory::<ReadWrite>::create(&name, 16)?;
    /// writer.write_at(4, b"hello".as_slice())?;
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// let mut text = vec![0_u8; 5];
    /// reader.read_bytes_at(4, &mut text)?;
    /// assert_eq!(text, b"hello");
    /// assert!(reader.read_bytes_at(12, &mut text).is_err()); // past the end
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_bytes_at(&self, offset: usize, target: &mut [u8]) -> Result<(), SharedMemoryError> {
        let start = self.bounds(offset, target.len())?;
        // SAFETY: `bounds` proved the range inside the readable view; `target` is memory of
        // this process, borrowed exclusively, so apart from the view.
        unsafe { copy::from_shared(start.as_ptr(), target.as_mut_ptr(), target.len()) };
        Ok(())
    }

    /// The platform's mapping, for what a backend's synchronisation needs of it (the Linux
    /// `NamedMutex` locks bytes of its descriptor).
    #[allow(dead_code, reason = "only the Linux mutex locks bytes of its region")]
    pub(crate) fn mapping(&self) -> &sys::Mapping {
        &self.mapping
    }

    /// `word`, a word of this view, where this process may write it: itself in a writable view;
    /// in a read-only one, the same word through a second, writable view of its page, made on
    /// first use and kept as long as the handle (one page per handle: a word on another page
    /// gets `None`); `None` when there can be none (the region's permissions, or an OS whose
    /// waiting readers never write). Only the sequences' waiting words are written through it.
    pub(crate) fn writable_word<'a>(&'a self, word: &'a AtomicU32) -> Option<&'a AtomicU32> {
        if A::WRITABLE {
            return Some(word);
        }
        let offset = (word as *const AtomicU32 as usize).checked_sub(self.as_ptr() as usize)?;
        if offset + size_of::<AtomicU32>() > self.len {
            return None;
        }
        let alias = self
            .alias
            .get_or_init(|| self.mapping.writable_alias(offset))
            .as_ref()?;
        let range = alias.range();
        if offset < range.start || offset + size_of::<AtomicU32>() > range.end {
            return None;
        }
        // SAFETY: `offset` is in bounds of the alias's page (checked), which maps the same
        // bytes of the same region writable for as long as `self` lives; an `AtomicU32` is
        // valid for any bytes and the word is only ever accessed atomically, and `word`'s
        // alignment carries over, as both views start on a page boundary.
        Some(unsafe {
            &*alias
                .as_ptr()
                .as_ptr()
                .add(offset - range.start)
                .cast::<AtomicU32>()
        })
    }

    /// Opens an existing section with this handle's access and maps `extent` of it.
    pub(crate) fn open_extent(
        name: &str,
        extent: Extent,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name)?;
        options.check(&name)?;
        let place = place(&name, options)?;
        let opened = sys::Section::open(place, A::WRITABLE);
        let section = opened.map_err(|source| SharedMemoryError::Open {
            name: name.as_str().to_owned(),
            source,
        })?;
        check_owner(&name, &section, options)?;
        let len = mapped_len(&name, &section, extent)?;
        Self::map(name, section, len, false)
    }

    /// Maps `len` bytes of the section and wraps it up.
    fn map(
        name: RegionName,
        section: sys::Section,
        len: usize,
        created: bool,
    ) -> Result<Self, SharedMemoryError> {
        let mapping = section
            .map(len, A::WRITABLE)
            .map_err(|source| SharedMemoryError::Map {
                name: name.as_str().to_owned(),
                source,
            })?;
        Ok(Self {
            alias: OnceLock::new(),
            mapping,
            name,
            len,
            created,
            _access: PhantomData,
        })
    }

    /// The first byte of `len` bytes at `offset`, if they are inside the region.
    pub(crate) fn bounds(
        &self,
        offset: usize,
        len: usize,
    ) -> Result<NonNull<u8>, SharedMemoryError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {
                // SAFETY: `offset <= end <= self.len`, so the result stays in the view.
                Ok(unsafe { self.mapping.as_ptr().add(offset) })
            }
            _ => Err(SharedMemoryError::OutOfBounds {
                name: self.name().to_owned(),
                offset,
                len,
                region_len: self.len,
            }),
        }
    }

    /// A pointer to `count` values of `T` at `offset`, if they are inside the region and
    /// aligned.
    pub(crate) fn checked<T>(
        &self,
        offset: usize,
        count: usize,
    ) -> Result<NonNull<T>, SharedMemoryError> {
        let len =
            size_of::<T>()
                .checked_mul(count)
                .ok_or_else(|| SharedMemoryError::OutOfBounds {
                    name: self.name().to_owned(),
                    offset,
                    len: usize::MAX,
                    region_len: self.len,
                })?;
        let start = self.bounds(offset, len)?.cast::<T>();
        if !start.as_ptr().is_aligned() {
            return Err(SharedMemoryError::Misaligned {
                name: self.name().to_owned(),
                offset,
                align: align_of::<T>(),
            });
        }
        Ok(start)
    }
}

impl<A: Access> fmt::Debug for SharedMemory<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name.as_str())
            .field("len", &self.len)
            .field("access", &A::NAME)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Creates or opens the section of `len` bytes, after refusing sizes no OS takes.
fn create_section(
    name: &RegionName,
    len: usize,
    options: &Options,
) -> Result<(sys::Section, Disposition), SharedMemoryError> {
    options.check(name)?;
    if len == 0 {
        return Err(SharedMemoryError::EmptyRegion {
            name: name.as_str().to_owned(),
        });
    }
    if isize::try_from(len).is_err() {
        return Err(SharedMemoryError::TooLarge {
            name: name.as_str().to_owned(),
            len: len as u64,
        });
    }
    let access = sys::CreateAccess::new(&options.permissions()).map_err(|source| {
        SharedMemoryError::SecurityDescriptor {
            name: name.as_str().to_owned(),
            source,
        }
    })?;
    // A usize always fits in a u64 on the platforms this crate builds for.
    let created = sys::Section::create_or_open(place(name, options)?, len as u64, &access);
    created.map_err(|source| SharedMemoryError::Create {
        name: name.as_str().to_owned(),
        source,
    })
}

/// Where the region is: its name, and with [`Options::linux_host`] its file in the host's
/// `/dev/shm`, which must be a name Windows programs can open on every OS.
fn place<'a>(name: &'a RegionName, options: &Options) -> Result<sys::Place<'a>, SharedMemoryError> {
    let host_file = options
        .linux_host_chosen()
        .then(|| crate::boundary::windows_file_name(name.as_str()))
        .transpose()
        .map_err(|reason| SharedMemoryError::InvalidName {
            name: name.as_str().to_owned(),
            reason,
        })?;
    Ok(sys::Place {
        name: name.encoded(),
        host_file,
        name_in_prefix: !options.host_file_only_chosen(),
    })
}

/// Refuses a region another user owns, when the options require one's own.
fn check_owner(
    name: &RegionName,
    section: &sys::Section,
    options: &Options,
) -> Result<(), SharedMemoryError> {
    if !options.owner_required() {
        return Ok(());
    }
    let owner = section
        .foreign_owner()
        .map_err(|source| SharedMemoryError::Open {
            name: name.as_str().to_owned(),
            source,
        })?;
    match owner {
        Some(owner) => Err(SharedMemoryError::ForeignOwner {
            name: name.as_str().to_owned(),
            owner,
        }),
        None => Ok(()),
    }
}

/// How many bytes of an existing section to map for `extent`, after checking its size before
/// any view is made.
///
/// Windows reports a section's exact size. Wine rounds it up to a page, so under Wine a section
/// short of the extent by less than the rest of its last page passes; the view is then still
/// within memory the section owns.
fn mapped_len(
    name: &RegionName,
    section: &sys::Section,
    extent: Extent,
) -> Result<usize, SharedMemoryError> {
    let actual = section
        .size()
        .map_err(|source| SharedMemoryError::QuerySize {
            name: name.as_str().to_owned(),
            source,
        })?;
    let (required, whole) = match extent {
        Extent::Exactly(len) => (len, false),
        Extent::Whole { at_least } => (at_least, true),
    };
    if actual < required as u64 {
        return Err(if actual == 0 {
            SharedMemoryError::EmptyRegion {
                name: name.as_str().to_owned(),
            }
        } else {
            SharedMemoryError::SizeMismatch {
                name: name.as_str().to_owned(),
                required,
                actual,
            }
        });
    }
    if !whole {
        return Ok(required);
    }
    usize::try_from(actual)
        .ok()
        .filter(|&len| isize::try_from(len).is_ok())
        .ok_or_else(|| SharedMemoryError::TooLarge {
            name: name.as_str().to_owned(),
            len: actual,
        })
}

/// Frees the regions of this user that no process holds any more, because their last holders
/// exited without dropping their links (`std::process::exit`, a signal, `panic = "abort"`, a
/// crash), and returns how many were removed.
///
/// Linux: each process already does this once, at its first create or open, so a region whose
/// holders have all gone is gone from `/dev/shm` once any process of its user has used the
/// crate again; call this to reclaim the memory sooner, for example from a long-running
/// process. Only this user's regions made by this crate and held by nobody are removed; other
/// programs' objects and other users' are never touched. Windows frees a section with its last
/// handle, and the portable Unix backend (macOS) cannot tell a stale region from a live one:
/// there this returns 0.
///
/// ```
/// let removed = win_shared_memory::reclaim_stale()?;
/// println!("reclaimed {removed} stale regions");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reclaim_stale() -> std::io::Result<usize> {
    sys::reclaim_stale()
}
