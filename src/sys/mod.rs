//! The platform layer: create, open, size, map and close a raw named region. Nothing typed and
//! no policy; every OS offers the same small API (`Section`, `Mapping`, `Disposition`).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use self::windows::*;

#[cfg(not(any(unix, windows)))]
compile_error!("win-shared-memory supports Windows and Unix (Linux, macOS) only");

/// The largest alignment a view is guaranteed: every platform's views start on a page boundary,
/// and no supported platform has pages smaller than 4 KiB.
pub(crate) const VIEW_ALIGN: usize = 4096;

/// Whether [`Section::create_or_open`] made a new region or found one under the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// A new, zero-filled region of the requested size.
    Created,
    /// A region that already had the name; its size is whatever its creator chose.
    Existing,
}
