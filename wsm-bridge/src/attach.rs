//! Sections the game made before the bridge started: copied into native regions.
//!
//! Wine 8 backs a game's anonymous named section with a deleted `tmpmap-*` file that
//! `wineserver` holds, which no `/dev/shm` name can be given to; so the bridge opens the
//! game's section by its name, makes `/dev/shm/<name>` of the section's size (a region of this
//! crate with [`Options::host_file_only`], since the prefix's name is the game's; or a native
//! reader's empty file, adopted), and copies the game's data into it at each change. A section
//! whose versioning is known (rFactor 2's begin and end counters, Project CARS 2's sequence
//! number) is copied by it and published with [`SharedMemory::write_versioned`], so that
//! native readers never take a torn copy; the native counters then count the bridge's copies,
//! and only ever go up, across game restarts too. A section without a known protocol is
//! copied when its bytes change, as a best effort: a copy taken while the game writes may be
//! torn, as the game's own readers may be on Windows.
//!
//! The bridge keeps its handle and view of the game's section until it ends, so the section
//! outlives the game: a game that restarts meanwhile gets the same section back
//! (`ERROR_ALREADY_EXISTS`, as with the bridge's own sections) and the copy goes on, and native
//! readers keep their file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use win_shared_memory::sync::Versioning;
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};

use crate::adopt::Adopted;

/// How often the copier looks at the game's counters: the copy's latency is about this.
pub const VERSIONED_POLL: Duration = Duration::from_millis(1);

/// How often a section without a known protocol is compared with its last copy: each look
/// reads the whole section.
pub const UNVERSIONED_POLL: Duration = Duration::from_millis(10);

/// How long a versioned copy retries while the game writes, before it waits for the next
/// look (a game that writes flat out leaves few gaps; others must not wait on it).
const PATIENCE: Duration = Duration::from_millis(2);

/// A game's section and the native region its data is copied to.
pub struct Attached {
    /// The section's name, as given.
    pub name: String,
    game: SharedMemory<ReadOnly>,
    native: SharedMemory<ReadWrite>,
    versioning: Option<Versioning>,
    /// The game's updates at the last copy (versioned), or the last copy itself (raw).
    seen: Option<u64>,
    last: Vec<u8>,
    next: Vec<u8>,
    /// When a section without versioning is next compared.
    due: Instant,
    /// Copies made.
    pub copies: u64,
}

/// Opens the game's section `name` if the prefix has it; `None` if not.
pub fn game_section(name: &str) -> Result<Option<SharedMemory<ReadOnly>>, String> {
    match SharedMemory::<ReadOnly>::open(name) {
        Ok(section) => Ok(Some(section)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(format!("cannot open the game's section {name}: {error}")),
    }
}

impl Attached {
    /// Makes the native region for the game's section `game` (adopting a reader's empty file
    /// under the name if there is one, given back beside) and takes the first copy.
    pub fn new(
        name: &str,
        game: SharedMemory<ReadOnly>,
        versioning: Option<Versioning>,
    ) -> Result<(Self, Option<Adopted>), String> {
        let size = game.len();
        let file_name = crate::object_name(name);
        let native_only = Options::new().linux_host(true).host_file_only(true);
        let (native, adopted) = match crate::adopt::adopt(None, file_name, size as u64) {
            Ok(Some(adopted)) => {
                let native = SharedMemory::<ReadWrite>::open_existing_with(name, &native_only)
                    .map_err(|error| format!("cannot map the adopted file of {name}: {error}"))?;
                // The region opens the file by its name again: it must be the adopted one.
                if !adopted.still_named() {
                    return Err(format!(
                        "{name}: /dev/shm/{file_name} was replaced by another file while it was adopted"
                    ));
                }
                (native, Some(adopted))
            }
            Ok(None) => (create_native(name, size, &native_only, "")?, None),
            Err(why) => {
                let why = format!(" (not adopted as a reader's file: {why})");
                (create_native(name, size, &native_only, &why)?, None)
            }
        };
        if native.len() < size {
            return Err(format!(
                "{name}: the native file has {} bytes, fewer than the game's {size}",
                native.len()
            ));
        }
        let mut attached = Self {
            name: name.to_owned(),
            game,
            native,
            versioning,
            seen: None,
            last: vec![0; size],
            next: vec![0; size],
            due: Instant::now(),
            copies: 0,
        };
        attached.copy_if_changed()?;
        Ok((attached, adopted))
    }

    /// The game's section's size.
    pub fn len(&self) -> usize {
        self.game.len()
    }

    /// How the copy is kept whole, for messages.
    pub fn protocol(&self) -> String {
        match self.versioning {
            Some(Versioning::BeginEnd { begin, end }) => {
                format!("by its begin and end counters at {begin} and {end}")
            }
            Some(Versioning::OddEven { sequence }) => {
                format!("by its sequence number at {sequence}")
            }
            None => "when its bytes change (no known versioning: copies may be torn)".into(),
        }
    }

    /// The native region, given back at the end.
    pub fn into_native(self) -> SharedMemory<ReadWrite> {
        self.native
    }

    /// Copies the game's data to the native region if it changed since the last copy. A game
    /// that is writing (a versioned copy that does not come out whole in time) is looked at
    /// again later.
    fn copy_if_changed(&mut self) -> Result<(), String> {
        match self.versioning {
            Some(versioning) => self.copy_versioned(versioning),
            None => self.copy_raw(),
        }
        .map_err(|error| format!("copying {}: {error}", self.name))
    }

    fn copy_versioned(&mut self, versioning: Versioning) -> Result<(), SharedMemoryError> {
        if self.seen == Some(self.game.versioned_updates(versioning)?) {
            return Ok(());
        }
        match self
            .game
            .read_versioned_into(0, versioning, &mut self.next[..], PATIENCE)
        {
            Ok(()) => {}
            Err(SharedMemoryError::Inconsistent { .. }) => return Ok(()),
            Err(other) => return Err(other),
        }
        // The update the copy holds (its counters were checked around it), which may be later
        // than the one that was seen before it: the next look compares with this one.
        let copied = updates_in(&self.next, versioning);
        if copied.is_some() && self.seen == copied {
            return Ok(());
        }
        // The counters' bytes of the copy are left to the native region's own counters.
        self.native.write_versioned(0, versioning, &self.next[..])?;
        self.seen = copied;
        self.copies += 1;
        Ok(())
    }

    fn copy_raw(&mut self) -> Result<(), SharedMemoryError> {
        let now = Instant::now();
        if now < self.due {
            return Ok(());
        }
        self.due = now + UNVERSIONED_POLL;
        self.game.read_bytes_at(0, &mut self.next)?;
        if self.seen.is_some() && self.next == self.last {
            return Ok(());
        }
        self.native.write_at(0, &self.next[..])?;
        std::mem::swap(&mut self.last, &mut self.next);
        self.seen = Some(0);
        self.copies += 1;
        Ok(())
    }
}

/// The updates a consistent copy's counters say the game had completed, as
/// [`SharedMemory::versioned_updates`] counts them; `None` if they lie outside the copy.
fn updates_in(copy: &[u8], versioning: Versioning) -> Option<u64> {
    let counter = |at: usize| {
        let bytes = copy.get(at..at.checked_add(4)?)?;
        Some(u64::from(u32::from_le_bytes(bytes.try_into().ok()?)))
    };
    match versioning {
        Versioning::BeginEnd { end, .. } => counter(end),
        Versioning::OddEven { sequence } => counter(sequence).map(|sequence| sequence / 2),
    }
}

/// Makes the native region `name` of `size` bytes, with no name in the prefix (the game's
/// section has it); `not_adopted` says why a file under the name was not adopted.
fn create_native(
    name: &str,
    size: usize,
    options: &Options,
    not_adopted: &str,
) -> Result<SharedMemory<ReadWrite>, String> {
    SharedMemory::<ReadWrite>::create_with(name, size, options).map_err(|error| match error {
        SharedMemoryError::NameTaken { .. } => format!(
            "{name} is already bridged: its /dev/shm file exists (another wsm-bridge holds it, or a native program made it){not_adopted}"
        ),
        other => format!("cannot make the native region of {name}: {other}{not_adopted}"),
    })
}

/// Copies every attached section at each change until `stop`, then gives them back. A copy
/// that fails (the native file gone, say), or panics, is said once, and that section is no
/// longer copied; the others go on, and every one is given back for the bridge's end to let
/// go of as it lets go of its own (a panic that dropped them would remove their files under
/// native readers that still map them).
fn follow(mut attached: Vec<Attached>, stop: &AtomicBool) -> Vec<Attached> {
    let mut failed = vec![false; attached.len()];
    while !stop.load(Ordering::Relaxed) {
        for (section, failed) in attached.iter_mut().zip(&mut failed) {
            if *failed {
                continue;
            }
            let copied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                section.copy_if_changed()
            }));
            let why = match copied {
                Ok(Ok(())) => continue,
                Ok(Err(message)) => message,
                Err(_) => format!("copying {}: the copy panicked", section.name),
            };
            crate::say(&format!("{why}; no longer copied"));
            *failed = true;
        }
        std::thread::sleep(VERSIONED_POLL);
    }
    attached
}

/// The copier of the game's sections: a thread that [`follow`]s them, if there are any.
pub struct Copier {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Attached>>>,
}

impl Copier {
    /// Starts copying `attached` (no thread when there is nothing to copy).
    pub fn start(attached: Vec<Attached>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!attached.is_empty()).then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || follow(attached, &stop))
        });
        Self { stop, thread }
    }

    /// Stops copying and gives the sections back.
    pub fn stop(self) -> Vec<Attached> {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread else {
            return Vec::new();
        };
        thread.join().unwrap_or_else(|_| {
            crate::say("the copier of the game's sections failed; their copies were dropped");
            Vec::new()
        })
    }
}
