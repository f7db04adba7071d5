//! The platform layer: create, open, size, map and close a raw named region. Nothing typed and
//! no policy: plain values in, the OS's answer out.
//!
//! # The contract
//!
//! Every backend (`windows.rs`: paging-file sections, and under Wine host files through
//! `windows/host.rs`; `unix.rs`: the Linux holder-lock lifetime `unix/linux.rs` when
//! `wsm_holder_locks`, else the portable one `unix/portable.rs`) provides exactly these, which
//! the compiler checks below, so that `region.rs`, `options.rs` and `error.rs` never ask which
//! OS they run on:
//!
//! - `Section::create_or_open(Place, size, &CreateAccess) -> (Section, Disposition)`: a new,
//!   zero-filled region of `size` bytes, or the live one under the name, read-write.
//! - `Section::open(Place, writable) -> Section`: the live region under the name.
//! - `Section::size`, `Section::foreign_owner` (the owner when it is another user; Unix only
//!   has one), `Section::map(len, writable) -> Mapping`; dropping either lets the region go.
//! - `Mapping::as_ptr`: the view's first byte; `Mapping::writable_alias(offset) -> Option<Alias>`,
//!   a second, writable view of the page holding `offset` of a region mapped read-only, where
//!   waiting readers must write a word (Linux), with `Alias::as_ptr` and `Alias::range`.
//! - `CreateAccess::new(&Permissions)`: who may use a new region (a mode on Unix, a security
//!   descriptor on Windows; each backend reads its own and documents that it ignores the other).
//! - `refusal(&Requested)`: why this OS cannot honour an option, if it cannot.
//! - `error_kind(&OsError)`: the portable kind of an OS error.
//! - `reclaim_stale()`: removes this user's regions that no process holds (0 where the OS does).
//!
//! Layers, each importing only from those before it: `boundary` (the Wine boundary's rules, no
//! imports), `backoff` (the pacing of repeated looks), `sys` (this layer), `error`, `name`,
//! `options`, `copy` (the racy-copy primitive),
//! `region` (checked, untyped), `link` (typed) and `sync` (on `SharedMemory`).
//!
//! Around them: `unix/fork_watch.rs` (the one `pthread_atfork` watch), `unix/ofd_lock.rs` (the
//! one wrapper of open-file-description locks), and `crate::boundary`, the OS-independent rules
//! of the Wine boundary that both sides of it apply.

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

/// A region name as this OS takes it: NUL-terminated UTF-16 for the `W` functions.
#[cfg(windows)]
pub(crate) type EncodedName = Vec<u16>;

/// A region name as this OS takes it: the POSIX shared memory name, `/` and the name without
/// a `Local\` prefix.
#[cfg(unix)]
pub(crate) type EncodedName = String;

/// Where a region is, as every backend is given it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    /// The name in this OS's encoding.
    pub(crate) name: &'a EncodedName,
    /// With [`Options::linux_host`](crate::Options::linux_host), the region's file in the
    /// host's `/dev/shm` (a [`windows_file_name`](crate::boundary::windows_file_name)): Windows
    /// under Wine maps it; on Linux the region is that file anyway.
    #[allow(
        dead_code,
        reason = "only the Windows backend has a second kind of section"
    )]
    pub(crate) host_file: Option<&'a str>,
    /// Whether a section backed by the host file is named in the Wine prefix too; without
    /// ([`Options::host_file_only`](crate::Options::host_file_only)) it is the file's alone.
    #[allow(
        dead_code,
        reason = "only the Windows backend names sections in a prefix"
    )]
    pub(crate) name_in_prefix: bool,
}

/// Who may use a new region, as the options give it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Permissions<'a> {
    /// Unix permission bits (at most `0o777`); owner-only when `None`. Windows ignores them.
    #[allow(dead_code, reason = "each backend reads its own part")]
    pub(crate) mode: Option<u32>,
    /// A Windows security descriptor in SDDL; the default security when `None`. Unix ignores
    /// it.
    #[allow(dead_code, reason = "each backend reads its own part")]
    pub(crate) security_descriptor: Option<&'a str>,
}

/// The options that only some OSes can honour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requested {
    /// Open only regions of this process's user.
    #[allow(dead_code, reason = "only Windows cannot honour it")]
    pub(crate) owner_check: bool,
    /// Share the region with native Linux programs across the Wine boundary.
    pub(crate) linux_host: bool,
}

/// The contract above, checked by the compiler for the backend being built.
const _: () = {
    type Made = (Section, Disposition);
    let _: fn(Place<'_>, u64, &CreateAccess) -> Result<Made, OsError> = Section::create_or_open;
    let _: fn(Place<'_>, bool) -> Result<Section, OsError> = Section::open;
    let _: fn(&Section) -> Result<u64, OsError> = Section::size;
    let _: fn(&Section) -> Result<Option<u32>, OsError> = Section::foreign_owner;
    let _: fn(Section, usize, bool) -> Result<Mapping, OsError> = Section::map;
    let _: fn(&Mapping) -> std::ptr::NonNull<u8> = Mapping::as_ptr;
    let _: fn(&Mapping, usize) -> Option<Alias> = Mapping::writable_alias;
    let _: fn(&Alias) -> std::ptr::NonNull<u8> = Alias::as_ptr;
    let _: fn(&Alias) -> std::ops::Range<usize> = Alias::range;
    let _: fn(&Permissions<'_>) -> Result<CreateAccess, OsError> = CreateAccess::new;
    let _: fn(&Requested) -> Option<&'static str> = refusal;
    let _: fn(&OsError) -> std::io::ErrorKind = error_kind;
    let _: fn() -> std::io::Result<usize> = reclaim_stale;
};
