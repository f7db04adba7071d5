//! A mutex shared by name across processes, which survives the death of its holder.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::Failure;
use crate::name::RegionName;
use crate::{Options, SharedMemoryError};

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

/// What a platform's lock call got.
enum Acquired {
    /// The lock, from a holder that let go (or from nobody).
    Locked,
    /// The lock, from a holder that died holding it.
    OwnerDied,
    /// Nothing: the time ran out.
    TimedOut,
}

/// A mutex that processes share by name, with an RAII guard.
///
/// When a process dies holding it, the next locker gets it with
/// [`LockError::OwnerDied`]: the data it protects may be half-updated, and the caller must
/// check or repair it (then use the guard in the error as usual). Nothing hangs.
///
/// - Windows: a named mutex (`CreateMutexExW`), `WAIT_ABANDONED` on owner death. Its name is
///   the one given, so it interoperates with programs that publish a named mutex.
/// - Linux: a futex word in a small region of the crate's own named `<name>#mutex` (with the
///   crate's region lifetime) that holds integers only: the holder's slot number and a
///   waiters bit. An uncontended lock or unlock is one atomic instruction, no system call.
///   Each handle keeps an open-file-description lock on its slot's byte of that object, which
///   the kernel drops when the process dies; a waiter that finds the holder's byte unlocked
///   takes the mutex over and reports the death. Nothing read from the region is ever used as
///   a pointer, so whatever another process writes there, calls answer within their bounds.
/// - Other Unix systems (macOS): an exclusive `flock` on a file in `/tmp` (a fixed directory,
///   whatever `$TMPDIR` says), which the kernel releases when its holder dies, plus a held
///   flag in the file to tell owner death. The file stays in `/tmp`.
///
/// A handle is for one thread at a time (`Send`, not `Sync`): give each thread its own, as the
/// lock belongs to the thread that took it. A thread must not lock a mutex it already holds:
/// through the same handle that is refused on every platform; through another handle it is
/// granted again (recursively) on Windows, and waits (until its timeout, or forever) on Unix.
/// On Unix, a handle copied into a child by `fork` refuses to lock there, and a guard copied
/// so does not unlock its parent's lock: open the mutex again in the child. The copy still
/// shares its parent's kernel lock (Linux: the slot lock; macOS: the `flock`): while a forked
/// child keeps it, a parent that dies holding the mutex still looks alive (`lock` waits, the timed calls time out), so drop such
/// copies in the child (`exec` closes them too).
///
/// On Windows, mutexes, events and file mappings share one name space: a mutex cannot take the
/// name of a region (the OS reports an invalid handle). On Unix the crate keeps them apart.
/// Dropping the handle of a forgotten guard ([`std::mem::forget`]) abandons the lock: the next
/// locker, through a handle that kept the mutex alive, gets it with [`LockError::OwnerDied`]
/// (on Windows once the locking thread ends).
///
/// ```
/// use std::time::Duration;
/// use win_shared_memory::sync::NamedMutex;
///
/// # let name = format!("Local\\doc_mutex_{}", std::process::id());
/// let mutex = NamedMutex::new(&name)?;
/// let guard = mutex.lock().expect("nobody died holding it");
///
/// // Another thread (or process) with its own handle finds it taken.
/// let taken = std::thread::scope(|scope| {
///     scope
///         .spawn(|| {
///             let other = NamedMutex::new(&name).expect("opened");
///             let attempt = other.lock_timeout(Duration::from_millis(10));
///             attempt.expect("no error").is_none()
///         })
///         .join()
///         .unwrap()
/// });
/// assert!(taken);
/// drop(guard);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
pub struct NamedMutex {
    inner: imp::Mutex,
    name: String,
    /// Whether this handle holds the lock, to refuse locking it twice.
    held: Cell<bool>,
}

/// Why a lock was not simply granted.
pub enum LockError<'a> {
    /// The lock was granted, but its previous holder died holding it: what it protects may be
    /// inconsistent. The guard holds the lock; check or repair the data, then carry on.
    OwnerDied(NamedMutexGuard<'a>),
    /// The lock could not be taken.
    Failed(SharedMemoryError),
}

/// Holds a [`NamedMutex`] locked; dropping it unlocks. It stays on the thread that locked.
#[must_use = "the mutex unlocks when the guard drops"]
pub struct NamedMutexGuard<'a> {
    mutex: &'a NamedMutex,
    /// The lock belongs to the locking thread: the guard must not move to another.
    _thread_bound: PhantomData<*const ()>,
}

impl NamedMutex {
    /// Opens the mutex of that name, creating it (unlocked) if no process has it, with the
    /// default [`Options`]: on Unix its object is owner-only and one another user made is
    /// refused ([`SharedMemoryError::ForeignOwner`]).
    ///
    /// ```
    /// use win_shared_memory::sync::NamedMutex;
    ///
    /// # let name = format!("Local\\doc_mutex_new_{}", std::process::id());
    /// let mutex = NamedMutex::new(&name)?;
    /// assert_eq!(mutex.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn new(name: impl AsRef<str>) -> Result<Self, SharedMemoryError> {
        Self::new_with(name, &Options::default())
    }

    /// [`new`](Self::new) with [`Options`]: on Unix the mode a new `<name>#mutex` object gets
    /// (macOS: the lock file), and whether one another user owns is accepted
    /// (`require_owner(false)`; refused by default); on Windows the security descriptor of a
    /// new mutex.
    ///
    /// ```
    /// use win_shared_memory::Options;
    /// use win_shared_memory::sync::NamedMutex;
    ///
    /// # let name = format!("Local\\doc_mutex_new_with_{}", std::process::id());
    /// // Every user may lock it; on Unix, it may have been made by another user.
    /// let shared = Options::new()
    ///     .mode(0o666)
    ///     .security_descriptor("D:(A;;GA;;;WD)")
    ///     .require_owner(false);
    /// let mutex = NamedMutex::new_with(&name, &shared)?;
    /// drop(mutex.lock().ok().expect("nobody died holding it"));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn new_with(name: impl AsRef<str>, options: &Options) -> Result<Self, SharedMemoryError> {
        let name = RegionName::new(name.as_ref())?;
        Ok(Self {
            inner: imp::Mutex::open(&name, options)?,
            name: name.as_str().to_owned(),
            held: Cell::new(false),
        })
    }

    /// The mutex's name, as given.
    ///
    /// ```
    /// # use win_shared_memory::sync::NamedMutex;
    /// # let name = format!("Local\\doc_mutex_name_{}", std::process::id());
    /// assert_eq!(NamedMutex::new(&name)?.name(), name);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Locks, waiting as long as it takes.
    ///
    /// ```
    /// # use win_shared_memory::sync::NamedMutex;
    /// # let name = format!("Local\\doc_mutex_lock_{}", std::process::id());
    /// let mutex = NamedMutex::new(&name)?;
    /// let guard = mutex.lock().ok().expect("nobody died holding it");
    /// drop(guard);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<NamedMutexGuard<'_>, LockError<'_>> {
        self.acquire(None)?.ok_or_else(|| {
            LockError::Failed(
                Failure::Refused("lock", "an unbounded wait returned without the lock")
                    .named(&self.name),
            )
        })
    }

    /// Locks if no one holds the mutex; `None` if someone does.
    ///
    /// ```
    /// # use win_shared_memory::sync::NamedMutex;
    /// # let name = format!("Local\\doc_mutex_try_{}", std::process::id());
    /// let mutex = NamedMutex::new(&name)?;
    /// assert!(mutex.try_lock().ok().expect("no error").is_some());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Result<Option<NamedMutexGuard<'_>>, LockError<'_>> {
        self.acquire(Some(Duration::ZERO))
    }

    /// Locks, waiting at most `timeout`; `None` if the time ran out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::NamedMutex;
    /// # let name = format!("Local\\doc_mutex_timeout_{}", std::process::id());
    /// let mutex = NamedMutex::new(&name)?;
    /// let guard = mutex.lock_timeout(Duration::from_secs(1)).ok().expect("no error");
    /// assert!(guard.is_some());
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    #[inline]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'_>> {
        self.acquire(Some(timeout))
    }

    /// Waits for the lock (`None`: forever) and wraps the outcome.
    #[inline]
    fn acquire(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'_>> {
        if self.held.get() {
            return Err(LockError::Failed(
                Failure::Refused(
                    "lock",
                    "this handle already holds the mutex; locking it again would deadlock",
                )
                .named(&self.name),
            ));
        }
        let outcome = self
            .inner
            .lock(timeout)
            .map_err(|failure| LockError::Failed(failure.named(&self.name)))?;
        let guard = || {
            self.held.set(true);
            NamedMutexGuard {
                mutex: self,
                _thread_bound: PhantomData,
            }
        };
        match outcome {
            Acquired::Locked => Ok(Some(guard())),
            Acquired::OwnerDied => Err(LockError::OwnerDied(guard())),
            Acquired::TimedOut => Ok(None),
        }
    }
}

impl Drop for NamedMutexGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.held.set(false);
        self.mutex.inner.unlock();
    }
}

impl fmt::Debug for NamedMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutex")
            .field("name", &self.name)
            .field("held", &self.held.get())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NamedMutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutexGuard")
            .field("mutex", &self.mutex.name)
            .finish()
    }
}

impl fmt::Debug for LockError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OwnerDied(guard) => f.debug_tuple("OwnerDied").field(guard).finish(),
            Self::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
        }
    }
}

impl fmt::Display for LockError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OwnerDied(guard) => write!(
                f,
                "the previous holder of mutex `{}` died holding it; the lock is granted",
                guard.mutex.name
            ),
            Self::Failed(error) => error.fmt(f),
        }
    }
}

/// A failure's message is the [`SharedMemoryError`]'s, so its `source()` is that error's: the
/// chain goes on to the OS's error without repeating a line. A holder's death has no cause
/// beyond itself.
///
/// ```
/// use std::error::Error;
/// use win_shared_memory::sync::NamedMutex;
///
/// # let name = format!("Local\\doc_lock_error_source_{}", std::process::id());
/// let mutex = NamedMutex::new(&name)?;
/// let _guard = mutex.lock().ok().expect("nobody died holding it");
/// // Locking twice through one handle is refused: a failure of the crate's own, no OS cause.
/// let twice = mutex.try_lock().unwrap_err();
/// assert!(twice.to_string().contains(&name));
/// assert!(twice.source().is_none());
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
impl std::error::Error for LockError<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::OwnerDied(_) => None,
            Self::Failed(error) => error.source(),
        }
    }
}

impl<'a> LockError<'a> {
    /// The guard of a lock granted after its holder died, as
    /// [`PoisonError::into_inner`](std::sync::PoisonError::into_inner) gives std's: for callers
    /// that check the protected data anyway, or whose data cannot be left half-updated. A
    /// failure stays an error, an owned one that `?` carries out of any function returning a
    /// `SharedMemoryError` or a `Box<dyn Error>`.
    ///
    /// ```
    /// use win_shared_memory::sync::{LockError, NamedMutex};
    ///
    /// fn update(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    ///     let mutex = NamedMutex::new(name)?;
    ///     let _guard = mutex.lock().or_else(LockError::into_inner)?;
    ///     // ... change what the mutex protects ...
    ///     Ok(())
    /// }
    /// # update(&format!("Local\\doc_lock_error_into_inner_{}", std::process::id())).unwrap();
    /// ```
    pub fn into_inner(self) -> Result<NamedMutexGuard<'a>, SharedMemoryError> {
        match self {
            Self::OwnerDied(guard) => Ok(guard),
            Self::Failed(error) => Err(error),
        }
    }
}

/// An owned error for `?`: a failure as it is, and a holder's death as
/// [`SharedMemoryError::OwnerDied`], whose conversion drops the guard and so unlocks the mutex
/// (the next locker is not told again). Use [`LockError::into_inner`] to keep the lock.
///
/// ```
/// use win_shared_memory::SharedMemoryError;
/// use win_shared_memory::sync::NamedMutex;
///
/// fn update(mutex: &NamedMutex) -> Result<(), SharedMemoryError> {
///     let _guard = mutex.lock()?;
///     Ok(())
/// }
/// # let name = format!("Local\\doc_lock_error_from_{}", std::process::id());
/// update(&NamedMutex::new(&name)?)?;
/// # Ok::<(), SharedMemoryError>(())
/// ```
impl From<LockError<'_>> for SharedMemoryError {
    fn from(error: LockError<'_>) -> Self {
        match error {
            LockError::OwnerDied(guard) => SharedMemoryError::OwnerDied {
                name: guard.mutex.name.clone(),
            },
            LockError::Failed(error) => error,
        }
    }
}
