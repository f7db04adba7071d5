//! How regions are created and opened beyond their name and size: who may use them.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::error::SharedMemoryError;
use crate::name::RegionName;

/// Access control for a region, given to the `_with` constructors
/// ([`SharedMemory::create_with`](crate::SharedMemory::create_with) and the others).
///
/// Each OS uses its own part and ignores the other's: the mode on Unix, the security descriptor
/// on Windows. So one `Options` value serves every OS, and a part left unused leaves the region
/// no more open than the defaults (owner-only on Unix, the creator's default security on
/// Windows). What an OS cannot honour at all, and would leave less protected than asked, is
/// refused with [`SharedMemoryError::InvalidOptions`] instead: the owner check on Windows. A
/// mode above `0o777` is refused everywhere.
///
/// ```
/// use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory};
///
/// # let name = format!("Local\\doc_options_{}", std::process::id());
/// // Readable by every user of the machine (on Unix), writable by its owner.
/// let shared = Options::new().mode(0o644).security_descriptor("D:(A;;GA;;;WD)");
/// let region = SharedMemory::<ReadWrite>::create_with(&name, 64, &shared)?;
/// // Refuse a region that another user created first under the name (on Unix).
/// let mine = SharedMemory::<ReadOnly>::open_with(&name, &Options::new().require_owner(cfg!(unix)))?;
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    mode: Option<u32>,
    security_descriptor: Option<String>,
    /// `None` until chosen: regions then skip the owner check, the Unix companion objects of
    /// a `NamedMutex` or `NamedEvent` make it.
    require_owner: Option<bool>,
    linux_host: bool,
    host_file_only: bool,
    wait_for_creation: Option<Duration>,
}

impl Options {
    /// The defaults: regions readable and writable by their owner only (mode 0600 on Unix, the
    /// default security of the creating process on Windows), and no owner check on open.
    ///
    /// ```
    /// # use win_shared_memory::Options;
    /// assert_eq!(Options::new(), Options::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Unix: the permission bits a new region gets (at most `0o777`), exactly, whatever the
    /// umask. Windows ignores it: give a security descriptor there.
    ///
    /// ```
    /// # use win_shared_memory::Options;
    /// let group_can_read = Options::new().mode(0o640);
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Windows: the security descriptor a new region gets, in SDDL (for example
    /// `D:(A;;GA;;;WD)`, all access for everyone, as `Global\` regions shared with services
    /// need). Unix ignores it: give a mode there.
    ///
    /// ```
    /// # use win_shared_memory::Options;
    /// let everyone = Options::new().security_descriptor("D:(A;;GA;;;WD)");
    /// ```
    pub fn security_descriptor(mut self, sddl: impl Into<String>) -> Self {
        self.security_descriptor = Some(sddl.into());
        self
    }

    /// Unix: refuse to open a region that another user owns, so that a region created first
    /// under the name by someone else (name squatting) is not taken for one's own. Regions do
    /// not check unless asked; the objects a [`NamedMutex`](crate::sync::NamedMutex) or
    /// [`NamedEvent`](crate::sync::NamedEvent) keeps beside its name check unless given
    /// `require_owner(false)`. Windows
    /// refuses this option with [`SharedMemoryError::InvalidOptions`]: protect the region with
    /// a security descriptor and create it before anyone else there.
    ///
    /// ```
    /// # use win_shared_memory::Options;
    /// let mine_only = Options::new().require_owner(true);
    /// ```
    pub fn require_owner(mut self, require: bool) -> Self {
        self.require_owner = Some(require);
        self
    }

    /// Wine: back the region with the Linux host's `/dev/shm` file of its name, so that native
    /// Linux programs using this crate reach it by the same name (`Local\\x` is `/x` for both),
    /// and programs of the Wine prefix by its section name. Every open or create of such a
    /// region asks for it, on both sides of the boundary. On Linux regions always are such
    /// files, so the option changes nothing there; real Windows and macOS, which have no Linux
    /// host, refuse it with [`SharedMemoryError::InvalidOptions`]. Under Wine a `Global\\`
    /// name, or a name that is no Windows file name (`< > : " | ? *`, control characters, a
    /// trailing dot or space, a DOS device such as `NUL`), is refused with
    /// [`SharedMemoryError::InvalidName`]. See the README's "Proton and Wine" section.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemory, SharedMemoryError};
    ///
    /// # let name = format!("Local\\doc_linux_host_{}", std::process::id());
    /// let options = Options::new().linux_host(true);
    /// match SharedMemory::<ReadWrite>::create_with(&name, 64, &options) {
    ///     Ok(region) => assert_eq!(region.len(), 64), // Linux, or Windows under Wine
    ///     Err(SharedMemoryError::InvalidOptions { .. }) => {} // Windows, macOS
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn linux_host(mut self, linux_host: bool) -> Self {
        self.linux_host = linux_host;
        self
    }

    /// With [`linux_host`](Self::linux_host), under Wine: the region is its `/dev/shm` file
    /// alone, and the section this process maps from it gets no name in the Wine prefix, so
    /// that the prefix's programs do not find it (native programs do, by the name) and a
    /// section of the prefix may have the name meanwhile: `wsm-bridge` copies a game's own
    /// section into the native region of the same name this way. Opens and creates of the file
    /// work as with `linux_host` alone (a live file is joined, a stale one reclaimed). Without
    /// `linux_host` it is refused with [`SharedMemoryError::InvalidOptions`]; on Linux it
    /// changes nothing, as `linux_host` does not. The region's writer role still keeps its
    /// mutex `<name>#writer` in the prefix: a role on it and one on a prefix section of the
    /// same name refuse each other.
    ///
    /// ```
    /// use win_shared_memory::{Options, ReadWrite, SharedMemory, SharedMemoryError};
    ///
    /// # let name = format!("Local\\doc_host_file_only_{}", std::process::id());
    /// let native_only = Options::new().linux_host(true).host_file_only(true);
    /// match SharedMemory::<ReadWrite>::create_with(&name, 64, &native_only) {
    ///     Ok(region) => assert_eq!(region.len(), 64), // Linux, or Windows under Wine
    ///     Err(SharedMemoryError::InvalidOptions { .. }) => {} // Windows, macOS
    ///     Err(other) => return Err(other),
    /// }
    /// let alone = SharedMemory::<ReadWrite>::create_with(&name, 64, &Options::new().host_file_only(true));
    /// assert!(matches!(alone, Err(SharedMemoryError::InvalidOptions { .. })));
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    pub fn host_file_only(mut self, host_file_only: bool) -> Self {
        self.host_file_only = host_file_only;
        self
    }

    /// Opens wait up to `timeout` for the name to be created, rather than failing at once with
    /// a not-found error ([`SharedMemoryError::is_not_found`]): for a reader that starts before
    /// its publisher. It looks every millisecond at first and, after a second, every 16 ms;
    /// a region found empty (on macOS, one whose creator has not sized it yet) is looked at
    /// again too; any other error (the region too small, access denied) ends the wait at once,
    /// and at the timeout the last not-found (or empty) error is returned. It applies to every open that takes options
    /// (regions, links, [`NamedEvent::open_with`](crate::sync::NamedEvent::open_with)); creates
    /// ignore it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_wait_for_creation_{}", std::process::id());
    /// let reader = std::thread::spawn({
    ///     let name = name.clone();
    ///     move || {
    ///         let options = Options::new().wait_for_creation(Duration::from_secs(10));
    ///         SharedMemoryLink::<u64, ReadOnly>::open_with(&name, &options).map(|link| link.read())
    ///     }
    /// });
    /// std::thread::sleep(Duration::from_millis(50)); // the publisher starts late
    /// let mut publisher = SharedMemoryLink::<u64, ReadWrite>::create(&name)?;
    /// publisher.write(&7);
    /// let seen = reader.join().unwrap()?;
    /// assert!(seen == 0 || seen == 7); // opened as soon as it existed
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn wait_for_creation(mut self, timeout: Duration) -> Self {
        self.wait_for_creation = Some(timeout);
        self
    }

    /// These options without [`wait_for_creation`](Self::wait_for_creation), for the Unix
    /// companions of mutexes and events, and for followers, which wait their own way.
    pub(crate) fn opening_once(mut self) -> Self {
        self.wait_for_creation = None;
        self
    }

    /// Runs `open` until it finds the name, for as long as
    /// [`wait_for_creation`](Self::wait_for_creation) allows (once without it).
    pub(crate) fn until_created<R>(
        &self,
        mut open: impl FnMut() -> Result<R, SharedMemoryError>,
    ) -> Result<R, SharedMemoryError> {
        let Some(timeout) = self.wait_for_creation else {
            return open();
        };
        let deadline = Instant::now().checked_add(timeout);
        let mut backoff = Backoff::default();
        loop {
            match open() {
                // Not there yet; or, on macOS, made but not yet sized by its creator (its
                // `shm_open` and `ftruncate` are two calls).
                Err(error)
                    if error.is_not_found()
                        || matches!(error, SharedMemoryError::EmptyRegion { .. }) =>
                {
                    let pause = backoff.pause();
                    let left = match deadline {
                        None => pause,
                        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                            Some(left) if !left.is_zero() => left.min(pause),
                            _ => return Err(error),
                        },
                    };
                    std::thread::sleep(left);
                }
                other => return other,
            }
        }
    }

    /// Refuses options this OS cannot honour, naming the region.
    pub(crate) fn check(&self, name: &RegionName) -> Result<(), SharedMemoryError> {
        let invalid = |reason| SharedMemoryError::InvalidOptions {
            name: name.as_str().to_owned(),
            reason,
        };
        if self.mode.is_some_and(|mode| mode > 0o777) {
            return Err(invalid("a mode has permission bits only, at most 0o777"));
        }
        if self.host_file_only && !self.linux_host {
            return Err(invalid(
                "host_file_only is a way of sharing the host file: it needs linux_host",
            ));
        }
        let requested = crate::sys::Requested {
            owner_check: self.require_owner == Some(true),
            linux_host: self.linux_host,
        };
        if let Some(reason) = crate::sys::refusal(&requested) {
            return Err(invalid(reason));
        }
        Ok(())
    }

    /// Whether the region is shared across the Wine boundary through a host file.
    pub(crate) fn linux_host_chosen(&self) -> bool {
        self.linux_host
    }

    /// Whether a region shared through a host file gets no name in the Wine prefix.
    pub(crate) fn host_file_only_chosen(&self) -> bool {
        self.host_file_only
    }

    /// Who may use a new region: both OSes' parts, for the platform to take its own.
    pub(crate) fn permissions(&self) -> crate::sys::Permissions<'_> {
        crate::sys::Permissions {
            mode: self.mode,
            security_descriptor: self.security_descriptor.as_deref(),
        }
    }

    /// Whether opening must check the region's owner.
    pub(crate) fn owner_required(&self) -> bool {
        self.owner_check().unwrap_or(false)
    }

    /// The owner check as chosen, if it was.
    pub(crate) fn owner_check(&self) -> Option<bool> {
        self.require_owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: &Options) -> Result<(), SharedMemoryError> {
        options.check(&RegionName::new("Local\\options").unwrap())
    }

    #[test]
    fn each_os_ignores_the_other_os_part_so_one_value_serves_both() {
        let portable = Options::new()
            .mode(0o644)
            .security_descriptor("not checked on Unix");
        assert!(check(&portable).is_ok());
    }

    /// What the platform refuses is refused, naming the region; what every OS refuses too.
    #[test]
    fn what_this_os_cannot_honour_is_refused() {
        for (owner_check, linux_host) in [(true, false), (false, true), (true, true)] {
            let options = Options::new()
                .require_owner(owner_check)
                .linux_host(linux_host);
            let requested = crate::sys::Requested {
                owner_check,
                linux_host,
            };
            match (check(&options), crate::sys::refusal(&requested)) {
                (Ok(()), None) => {}
                (Err(SharedMemoryError::InvalidOptions { name, reason }), Some(refused)) => {
                    assert_eq!((name.as_str(), reason), ("Local\\options", refused));
                }
                other => panic!("{other:?}"),
            }
        }
        let setuid = check(&Options::new().mode(0o4755));
        assert!(matches!(
            setuid,
            Err(SharedMemoryError::InvalidOptions { .. })
        ));
    }
}
