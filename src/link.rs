//! The typed handle to a named region.

use std::fmt;
use std::marker::PhantomData;

use crate::name::RegionName;
use crate::sys::{self, Disposition};
use crate::{Access, ReadOnly, ReadWrite, SharedMemoryError};

/// The largest alignment a `T` may have: every platform's views start on a page boundary, and
/// no supported platform has pages smaller than 4 KiB.
pub(crate) const MAX_ALIGN: usize = 4096;

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
pub struct SharedMemoryLink<T, A: Access = ReadOnly> {
    mapping: sys::Mapping,
    name: RegionName,
    _layout: PhantomData<(T, A)>,
}

// SAFETY: a link owns a mapping of one `T`, like a `Box<T>`: sending it to another thread
// sends the access to that `T`, which is sound when `T` is `Send`. The OS handle it holds can
// be used and closed from any thread.
unsafe impl<T: Send, A: Access> Send for SharedMemoryLink<T, A> {}

// SAFETY: a shared link only hands out `&T` (through `get`), so sharing it across threads is
// sharing `&T`, which is sound when `T` is `Sync`.
unsafe impl<T: Sync, A: Access> Sync for SharedMemoryLink<T, A> {}

impl<T> SharedMemoryLink<T, ReadOnly> {
    /// Opens an existing region for reading.
    ///
    /// Fails with [`SharedMemoryError::OpenMapping`] when no region has the name (or access is
    /// denied), and with [`SharedMemoryError::SizeMismatch`] when the region is smaller than
    /// `T`.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_open_{}", std::process::id());
    /// let missing = SharedMemoryLink::<u32, ReadOnly>::open(&name);
    /// assert!(matches!(missing, Err(SharedMemoryError::OpenMapping(_))));
    ///
    /// let _writer = SharedMemoryLink::<u32, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<u32, ReadOnly>::open(&name)?;
    /// assert_eq!(unsafe { *reader.get() }, 0);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn open(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_with_access(name.as_ref())
    }
}

impl<T> SharedMemoryLink<T, ReadWrite> {
    /// Creates a new, zero-filled region of `size_of::<T>()` bytes and maps it for reading and
    /// writing.
    ///
    /// Fails with [`SharedMemoryError::AlreadyExists`] when a live region already has the name;
    /// the existing region is left untouched.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_create_{}", std::process::id());
    /// let link = SharedMemoryLink::<[u64; 4], ReadWrite>::create(&name)?;
    /// assert_eq!(unsafe { *link.get() }, [0; 4]);
    /// assert!(matches!(
    ///     SharedMemoryLink::<[u64; 4], ReadWrite>::create(&name),
    ///     Err(SharedMemoryError::AlreadyExists)
    /// ));
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn create(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        let (name, section, disposition) = Self::create_section(name.as_ref())?;
        match disposition {
            Disposition::Created => Self::map(name, section),
            // Dropping the section closes our handle: the region stays its holders'.
            Disposition::Existing => Err(SharedMemoryError::AlreadyExists),
        }
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
    /// unsafe { *first.get_mut() = 9 };
    /// let second = SharedMemoryLink::<u32, ReadWrite>::get_or_create(&name)?;
    /// assert_eq!(unsafe { *second.get() }, 9);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn get_or_create(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        let (name, section, disposition) = Self::create_section(name.as_ref())?;
        if disposition == Disposition::Existing {
            check_size::<T>(&name, &section)?;
        }
        Self::map(name, section)
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
    /// unsafe { *other.get_mut() += 1 };
    /// assert_eq!(unsafe { *creator.get() }, 1);
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn open_existing(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::open_with_access(name.as_ref())
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
    /// assert_eq!(unsafe { *link.get() }, (0, 5));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub unsafe fn get_mut(&mut self) -> &mut T {
        // SAFETY: the view is writable, at least `size_of::<T>()` bytes long (checked when
        // opened) and aligned for `T` (pages are, and `T`'s alignment was checked); the
        // caller promises exclusive access and a valid `T`.
        unsafe { self.mapping.as_ptr().cast::<T>().as_mut() }
    }

    /// Creates or opens the section, after checking what can be checked before asking the OS.
    fn create_section(
        name: &str,
    ) -> Result<(RegionName, sys::Section, Disposition), SharedMemoryError> {
        let name = validate::<T>(name)?;
        let (section, disposition) = sys::Section::create_or_open(&name, region_size_u64::<T>())
            .map_err(SharedMemoryError::CreateMapping)?;
        Ok((name, section, disposition))
    }
}

impl<T, A: Access> SharedMemoryLink<T, A> {
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
        unsafe { self.mapping.as_ptr().cast::<T>().as_ref() }
    }

    /// Opens an existing section with this link's access.
    fn open_with_access(name: &str) -> Result<Self, SharedMemoryError> {
        let name = validate::<T>(name)?;
        let section =
            sys::Section::open(&name, A::WRITABLE).map_err(SharedMemoryError::OpenMapping)?;
        check_size::<T>(&name, &section)?;
        Self::map(name, section)
    }

    /// Maps the section and wraps it up.
    fn map(name: RegionName, section: sys::Section) -> Result<Self, SharedMemoryError> {
        let mapping = section
            .map(region_size::<T>(), A::WRITABLE)
            .map_err(SharedMemoryError::MapView)?;
        Ok(Self {
            mapping,
            name,
            _layout: PhantomData,
        })
    }
}

impl<T, A: Access> fmt::Debug for SharedMemoryLink<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemoryLink")
            .field("name", &self.name.as_str())
            .field("type", &std::any::type_name::<T>())
            .field("size", &region_size::<T>())
            .field("access", &A::NAME)
            .finish_non_exhaustive()
    }
}

/// Checks the name and `T`'s alignment.
fn validate<T>(name: &str) -> Result<RegionName, SharedMemoryError> {
    let name = RegionName::new(name)?;
    if align_of::<T>() > MAX_ALIGN {
        return Err(SharedMemoryError::Alignment {
            name: name.as_str().to_owned(),
            align: align_of::<T>(),
        });
    }
    Ok(name)
}

/// The bytes a region for `T` has: `T`'s size, and one byte for a zero-sized `T`, since no OS
/// makes empty regions.
fn region_size<T>() -> usize {
    size_of::<T>().max(1)
}

/// [`region_size`] as the OS takes it: a type's size is at most `isize::MAX`, so it fits.
fn region_size_u64<T>() -> u64 {
    region_size::<T>() as u64
}

/// Refuses a section too small for `T` before any view of it is made.
///
/// Windows reports a section's exact size. Wine rounds it up to a page, so under Wine a section
/// short of `T` by less than the rest of its last page passes; the view is then still within
/// memory the section owns.
fn check_size<T>(name: &RegionName, section: &sys::Section) -> Result<(), SharedMemoryError> {
    let actual = section
        .size()
        .map_err(|source| SharedMemoryError::QuerySize {
            name: name.as_str().to_owned(),
            source,
        })?;
    if actual < region_size_u64::<T>() {
        return Err(SharedMemoryError::SizeMismatch {
            name: name.as_str().to_owned(),
            required: region_size::<T>(),
            actual,
        });
    }
    Ok(())
}
