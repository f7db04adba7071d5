//! The writer role of a region: one process at a time holds it, until it drops it or ends by
//! any means (`kill -9` included), and anyone who can open the region (on macOS, of the lock
//! file's user) can ask whether a live process holds it. A writer that takes the role after a dead one repairs the dead one's
//! half-done write itself ([`SeqLock::write_as`](super::SeqLock::write_as),
//! [`DoubleBuffer::write_as`](super::DoubleBuffer::write_as),
//! [`write_versioned`](crate::SharedMemory::write_versioned)).
//!
//! - Linux: an open-file-description write lock on byte 1 of the region's object (byte 0 is
//!   the holders'), which the kernel drops with its holder.
//! - macOS (and the portable backend): `flock` on a lock file `/tmp/wsm-writer<name>`, refused
//!   when another user owns it (it would let them hold the role, or fake a live writer).
//! - Windows: a named mutex `<name>#writer`, abandoned when its holder dies. The role stays on
//!   the thread that took it, as a Windows mutex does (the role is not `Send`). Under Wine, on a
//!   region backed by a file of the Linux host ([`Options::linux_host`](crate::Options::linux_host)),
//!   also an exclusive `LockFileEx` of byte 1 of the file, which `wineserver` sets as a POSIX
//!   lock that conflicts with the Linux side's: either side sees and refuses the other's
//!   writer, and `wineserver` frees it when the Windows process dies. The role is taken only
//!   if the mutex and the byte both are, and is alive while either is held; it holds the file
//!   as one of the region's holders, so the file stays while the role does.
//!
//! A reader asking may hold the role's lock shared for a moment (macOS; a Windows reader under
//! Wine, whose byte lock the Linux side sees): so on every OS a refused take is tried again for
//! 50 ms before it is refused.
//!
//! The role is advisory: writers that do not take it are not stopped by it. A child made by
//! `fork` on Linux and macOS shares its parent's role (one open file description holds the
//! lock); on Linux the child dropping its copy leaves the parent's role held.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// How long a take retries a role it found held: a reader's question holds the lock for a
/// moment, a writer as long as it lives.
const PROBES_END_WITHIN: Duration = Duration::from_millis(50);

#[cfg(wsm_holder_locks)]
mod linux;
#[cfg(wsm_holder_locks)]
use linux as imp;
#[cfg(all(unix, not(wsm_holder_locks)))]
mod portable;
#[cfg(all(unix, not(wsm_holder_locks)))]
use portable as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use self::windows as imp;

use super::Failure;
use crate::{Access, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

/// The writer role of a region, held until it is dropped or its process ends, however it ends
/// (see [`SharedMemory::take_writer_role`]).
#[must_use = "the role ends when it is dropped"]
pub struct WriterRole {
    _held: imp::Held,
    name: String,
    /// On Windows the role is a mutex, which belongs to the thread that took it.
    _thread_bound: PhantomData<*const ()>,
}

impl WriterRole {
    /// The region's name, as given.
    ///
    /// ```
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_role_name_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    /// assert_eq!(region.take_writer_role()?.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for WriterRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterRole")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SharedMemory<ReadWrite> {
    /// Takes the region's writer role, which this process then holds until the role is
    /// dropped or the process ends, however it ends; refused
    /// ([`SharedMemoryError::SynchronizationRefused`]) while another live process (or another
    /// role of this one) holds it, after 50 ms of tries (a reader's question may hold the
    /// role's lock for a moment). After a writer that died, the role is free again: write
    /// with it ([`SeqLock::write_as`](crate::sync::SeqLock::write_as)) and a write the dead one
    /// left half done is taken over at once. The module's documentation says how each OS
    /// keeps it.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_take_writer_role_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// assert!(!reader.writer_alive()?);
    /// let role = region.take_writer_role()?;
    /// assert!(reader.writer_alive()?);
    /// assert!(region.take_writer_role().is_err()); // one writer at a time
    /// drop(role);
    /// assert!(!reader.writer_alive()?);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn take_writer_role(&self) -> Result<WriterRole, SharedMemoryError> {
        let started = Instant::now();
        loop {
            match imp::take(self).map_err(|failure| failure.named(self.name()))? {
                Some(held) => {
                    return Ok(WriterRole {
                        _held: held,
                        name: self.name().to_owned(),
                        _thread_bound: PhantomData,
                    });
                }
                // A reader's question, perhaps: it ends within moments; a writer's role does not.
                None if started.elapsed() < PROBES_END_WITHIN => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                None => {
                    return Err(Failure::Refused(
                        "take_writer_role",
                        "a live process holds the region's writer role",
                    )
                    .named(self.name()));
                }
            }
        }
    }
}

impl<A: Access> SharedMemory<A> {
    /// Whether a live process (this one included) holds the region's writer role
    /// ([`take_writer_role`](SharedMemory::take_writer_role)): `false` once its writer
    /// dropped the role or died, however it died.
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_writer_alive_{}", std::process::id());
    /// let _region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    /// assert!(!SharedMemory::<ReadOnly>::open(&name)?.writer_alive()?);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn writer_alive(&self) -> Result<bool, SharedMemoryError> {
        imp::held_by_anyone(self).map_err(|failure| failure.named(self.name()))
    }
}

impl<T> SharedMemoryLink<T, ReadWrite> {
    /// As [`SharedMemory::take_writer_role`].
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_take_writer_role_{}", std::process::id());
    /// let link = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::create(&name)?;
    /// let role = link.take_writer_role()?;
    /// link.seqlock().write_as(&role, &5)?;
    /// assert_eq!(link.seqlock().read()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_writer_role(&self) -> Result<WriterRole, SharedMemoryError> {
        self.region().take_writer_role()
    }
}

impl<T, A: Access> SharedMemoryLink<T, A> {
    /// As [`SharedMemory::writer_alive`].
    ///
    /// ```
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_writer_alive_{}", std::process::id());
    /// let writer = SharedMemoryLink::<u64, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<u64, ReadOnly>::open(&name)?;
    /// let _role = writer.take_writer_role()?;
    /// assert!(reader.writer_alive()?);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn writer_alive(&self) -> Result<bool, SharedMemoryError> {
        self.region().writer_alive()
    }
}
