//! How regions are created and opened beyond their name and size: who may use them.

use crate::error::SharedMemoryError;
use crate::name::RegionName;

/// Access control for a region, given to the `_with` constructors
/// ([`SharedMemory::create_with`](crate::SharedMemory::create_with) and the others). Each OS
/// uses its own part: the mode on Unix, the security descriptor on Windows.
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
    require_owner: bool,
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
    /// under the name by someone else (name squatting) is not taken for one's own. Windows
    /// refuses this option with [`SharedMemoryError::InvalidOptions`]: protect the region with
    /// a security descriptor and create it before anyone else there.
    ///
    /// ```
    /// # use win_shared_memory::Options;
    /// let mine_only = Options::new().require_owner(true);
    /// ```
    pub fn require_owner(mut self, require: bool) -> Self {
        self.require_owner = require;
        self
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
        if cfg!(windows) && self.require_owner {
            return Err(invalid(
                "the owner check is Unix's; on Windows give the region a security descriptor",
            ));
        }
        Ok(())
    }

    /// The permission bits for a new region, if chosen.
    #[cfg(unix)]
    pub(crate) fn chosen_mode(&self) -> Option<u32> {
        self.mode
    }

    /// The SDDL security descriptor for a new region, if given.
    #[cfg(windows)]
    pub(crate) fn chosen_security_descriptor(&self) -> Option<&str> {
        self.security_descriptor.as_deref()
    }

    /// Whether opening must check the region's owner.
    pub(crate) fn owner_required(&self) -> bool {
        self.require_owner
    }
}
