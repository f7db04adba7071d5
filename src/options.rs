//! How regions are created and opened beyond their name and size: who may use them.

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

    /// Refuses options this OS cannot honour, naming the region.
    pub(crate) fn check(&self, name: &RegionName) -> Result<(), SharedMemoryError> {
        let invalid = |reason| SharedMemoryError::InvalidOptions {
            name: name.as_str().to_owned(),
            reason,
        };
        if self.mode.is_some_and(|mode| mode > 0o777) {
            return Err(invalid("a mode has permission bits only, at most 0o777"));
        }
        if cfg!(windows) && self.require_owner == Some(true) {
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
        self.require_owner.unwrap_or(false)
    }

    /// These options for a synchronisation object's companion region, whose owner is checked
    /// unless the options say otherwise.
    #[cfg(unix)]
    pub(crate) fn for_companion(&self) -> Self {
        Self {
            require_owner: Some(self.require_owner.unwrap_or(true)),
            ..self.clone()
        }
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

    #[test]
    fn what_this_os_cannot_honour_is_refused() {
        let owner_check = check(&Options::new().require_owner(true));
        assert_eq!(owner_check.is_err(), cfg!(windows), "{owner_check:?}");
        let setuid = check(&Options::new().mode(0o4755));
        assert!(matches!(
            setuid,
            Err(SharedMemoryError::InvalidOptions { .. })
        ));
    }
}
