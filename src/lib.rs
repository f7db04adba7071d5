//! Typed, RAII access to named shared memory regions, the same on Windows, Linux and macOS.
//!
//! A [`SharedMemoryLink<T, A>`] maps a region that holds one `T` and that other processes find
//! by name: a Windows named file mapping (`CreateFileMappingW`, `OpenFileMappingW`,
//! `MapViewOfFile`), or a POSIX shared memory object on Unix. Dropping the link unmaps the view
//! and closes the handle; the region lives as long as any process holds it, and no longer, on
//! Windows and Linux even when a holder crashes (macOS: see the README).
//!
//! [`SharedMemory<A>`] is the same for a region whose size is chosen at run time, with views
//! checked against its bounds. Plain-data types (zerocopy's [`FromBytes`](zerocopy::FromBytes)
//! and [`IntoBytes`](zerocopy::IntoBytes)) are copied in and out without `unsafe`. zerocopy is
//! re-exported with its derives; a crate without a zerocopy dependency of its own points them
//! at the re-export:
//!
//! ```
//! use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
//!
//! #[repr(C)]
//! #[derive(FromBytes, IntoBytes, Immutable)]
//! #[zerocopy(crate = "win_shared_memory::zerocopy")]
//! struct Position {
//!     x: f32,
//!     y: f32,
//! }
//! ```
//!
//! The [`sync`] module coordinates processes: [`SeqLock`](sync::SeqLock) for lock-free
//! consistent snapshots, [`NamedMutex`](sync::NamedMutex) that reports its holder's death,
//! [`NamedEvent`](sync::NamedEvent) to signal new data, and consistent copies of regions that
//! games version themselves ([`SharedMemory::read_versioned`]).
//!
//! The API is that of win-shared-memory 0.1.0, with its mistakes fixed: names that would be
//! truncated are refused, a region smaller than `T` is refused before it is mapped, regions
//! above 4 GiB work on 64-bit systems, zero-sized types get a region, and every error names its
//! region. The few changes that can break 0.1.0 code (new error variants, which replace 0.1.0's
//! five as what the crate returns; the `A: Access` bound on generic code) are listed with their
//! fixes in the README's "Migrating from 0.1".
//!
//! ```
//! use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
//!
//! #[repr(C)]
//! struct GameState {
//!     score: u32,
//!     lives: u8,
//! }
//!
//! # let name = format!("Local\\doc_crate_{}", std::process::id());
//! // The writer process.
//! let mut link: SharedMemoryLink<GameState, ReadWrite> = SharedMemoryLink::create(&name)?;
//! // SAFETY: no other process touches the region while `state` is borrowed.
//! unsafe {
//!     let state = link.get_mut();
//!     state.score = 42;
//!     state.lives = 3;
//! }
//!
//! // A reader process (here the same one).
//! let reader: SharedMemoryLink<GameState, ReadOnly> = SharedMemoryLink::open(&name)?;
//! // SAFETY: nothing writes the region while `state` is borrowed.
//! let state = unsafe { reader.get() };
//! assert_eq!((state.score, state.lives), (42, 3));
//! # Ok::<(), win_shared_memory::SharedMemoryError>(())
//! ```
//!
//! A mapping is only as long-lived as the file behind it: on Unix a process allowed to write a
//! region can shrink it (`ftruncate`), and every process whose view then reaches past the end
//! is killed by `SIGBUS` at its next access there. Regions are owner-only unless
//! [`Options::mode`] widens them; see the README's Security section.
//!
//! # Names
//!
//! A name is an optional `Global\` or `Local\` prefix and a non-empty rest without NUL or
//! backslash; on Unix the rest also has no `/`, and the name is at most 254 bytes after a
//! `Local\` prefix (30 on macOS). On Unix, `Local\name` and `name` are the POSIX object
//! `/name` (on Windows they are one object too), and `Global\name` is `/Global\name`.
//! Anything else is refused with [`SharedMemoryError::InvalidName`]. A
//! [`NamedMutex`](sync::NamedMutex) or [`NamedEvent`](sync::NamedEvent) keeps its state on Unix
//! in a region named `<name>#mutex` or `<name>#event`, so its name is 6 bytes shorter there.

mod access;
mod backoff;
mod boundary;
mod copy;
mod error;
pub mod follow;
mod link;
mod name;
mod options;
mod region;
pub mod sync;
mod sys;

pub use access::{Access, ReadOnly, ReadWrite};
pub use error::{OsError, SharedMemoryError};
pub use link::SharedMemoryLink;
pub use options::Options;
pub use region::{SharedMemory, reclaim_stale};
pub use zerocopy;

/// The README's code blocks, compiled as doctests so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
