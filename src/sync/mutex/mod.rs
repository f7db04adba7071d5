//! A mutex shared by name across processes, which survives the death of its holder.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// (on Windows once the locking thread ends). A forgotten guard of a lock granted after its
/// holder died is different: it owns the handle (so that an error can carry it), which then
/// stays open, and the mutex locked, until the process ends.
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
///
/// ```compile_fail
/// // A handle is not `Sync`: threads share a mutex through handles of their own.
/// fn shared<T: Sync>(_: &T) {}
/// # let name = format!("Local\\doc_mutex_not_sync_{}", std::process::id());
/// shared(&win_shared_memory::sync::NamedMutex::new(&name).unwrap());
/// ```
///
/// ```
/// // It is `Send`: a thread may hand its handle to another.
/// fn sent<T: Send>(_: T) {}
/// # let name = format!("Local\\doc_mutex_send_{}", std::process::id());
/// sent(win_shared_memory::sync::NamedMutex::new(&name)?);
/// # Ok::<(), win_shared_memory::SharedMemoryError>(())
/// ```
pub struct NamedMutex {
    /// Shared with the guard of a lock granted after its holder died, which an error carries
    /// and which may outlive the handle (so that `?` can take the error out of the function).
    handle: Arc<Handle>,
    /// A handle is for one thread at a time.
    _not_sync: PhantomData<Cell<()>>,
}

/// What a handle and the guards of its lock share.
struct Handle {
    inner: imp::Mutex,
    name: String,
    /// Whether this handle holds the lock, to refuse locking it twice. Set only by the handle's
    /// thread, before it locks; cleared by the guard after it unlocks, which for an owner-died
    /// guard may be on another thread than the handle's now: hence atomic, but loads and
    /// stores only (plain moves on x86), no read-modify-write on the lock's fast path.
    held: AtomicBool,
    /// Whether the guard of the lock (one at most, see `held`) owns a strong count of the
    /// handle's `Arc`, which its drop gives back. Set and cleared by that guard's holder.
    guard_counted: AtomicBool,
}

// SAFETY: a `Handle` is used by its `NamedMutex` (one thread at a time: it is not `Sync`) and
// by the guard of its lock (on the locking thread). Only the handle's thread sets `held`, and
// it locks only after reading it clear, which the guard does after it has unlocked (release
// then acquire), so the two never lock and unlock at once. The platform's calls use atomics
// and system calls on handles, which any thread may make.
unsafe impl Sync for Handle {}

/// Why a lock was not simply granted.
///
/// The error of a lock call borrows nothing (`LockError<'static>`), so `?` takes it out of any
/// function that returns a `Box<dyn Error>`: a lock granted after its holder died is then an
/// error the caller sees, and that error holds the lock until it is dropped. The error is
/// neither `Send` nor `Sync` (the lock belongs to the locking thread), so error types that
/// need them (`anyhow::Error`) take [`SharedMemoryError::from`] or
/// [`into_inner`](Self::into_inner) first.
///
/// ```
/// use std::error::Error;
/// use win_shared_memory::sync::NamedMutex;
///
/// fn update(name: &str) -> Result<(), Box<dyn Error>> {
///     let mutex = NamedMutex::new(name)?;
///     let _guard = mutex.lock()?; // a holder's death comes out as an error
///     // ... change what the mutex protects ...
///     Ok(())
/// }
/// # update(&format!("Local\\doc_lock_error_question_mark_{}", std::process::id())).unwrap();
/// ```
pub enum LockError<'a> {
    /// The lock was granted, but its previous holder died holding it: what it protects may be
    /// inconsistent. The guard holds the lock; check or repair the data, then carry on. As an
    /// error (`?`), it holds the lock until it is dropped.
    OwnerDied(NamedMutexGuard<'a>),
    /// The lock could not be taken.
    Failed(SharedMemoryError),
}

/// Holds a [`NamedMutex`] locked; dropping it unlocks. It stays on the thread that locked.
#[must_use = "the mutex unlocks when the guard drops"]
pub struct NamedMutexGuard<'a> {
    /// The handle in its `Arc`: one pointer, so that a guard moves in a register (a two-word
    /// guard cost the uncontended lock and unlock 13 ns in `cargo xtask bench`, a store that
    /// the next copy could not forward). It lives as long as the borrow `'a` of its
    /// `NamedMutex` for a lock granted as usual (no reference count on the fast path); the guard
    /// of a lock granted after its holder died owns a strong count of its own
    /// (`Handle::guard_counted`), so that an error can carry it out of the handle's scope.
    handle: NonNull<Handle>,
    _handle: PhantomData<&'a Handle>,
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
            handle: Arc::new(Handle {
                inner: imp::Mutex::open(&name, options)?,
                name: name.as_str().to_owned(),
                held: AtomicBool::new(false),
                guard_counted: AtomicBool::new(false),
            }),
            _not_sync: PhantomData,
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
        &self.handle.name
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
    #[inline(always)]
    pub fn lock(&self) -> Result<NamedMutexGuard<'_>, LockError<'static>> {
        self.acquire(None)?.ok_or_else(|| {
            LockError::Failed(
                Failure::Refused("lock", "an unbounded wait returned without the lock")
                    .named(self.name()),
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
    pub fn try_lock(&self) -> Result<Option<NamedMutexGuard<'_>>, LockError<'static>> {
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
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'static>> {
        self.acquire(Some(timeout))
    }

    /// Waits for the lock (`None`: forever) and wraps the outcome. Always inlined, as `lock`
    /// and the guard's drop are: an uncontended lock and unlock is then the two atomic
    /// instructions of the futex word (`cargo xtask bench`: 1.02-1.11x a bare futex; out of
    /// line, the calls and the copies of their results made it 1.6-2.0x).
    #[inline(always)]
    fn acquire(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'static>> {
        let handle = &*self.handle;
        // Claimed before the lock is taken, given back if it is not. Only this thread sets it
        // (the handle is not `Sync`), so a load and a store do.
        if handle.held.load(Ordering::Acquire) {
            return Err(self.held_twice());
        }
        handle.held.store(true, Ordering::Relaxed);
        match handle.inner.lock(timeout) {
            Ok(Acquired::Locked) => Ok(Some(NamedMutexGuard::new(handle))),
            Ok(Acquired::OwnerDied) => Err(self.owner_died()),
            Ok(Acquired::TimedOut) => {
                handle.held.store(false, Ordering::Relaxed);
                Ok(None)
            }
            Err(failure) => Err(self.failed(failure)),
        }
    }

    /// The refusal to lock through a handle that holds the lock. Out of line, as the rare
    /// outcomes below, so that the fast path inlines into its callers.
    #[cold]
    #[inline(never)]
    fn held_twice(&self) -> LockError<'static> {
        LockError::Failed(
            Failure::Refused(
                "lock",
                "this handle already holds the mutex; locking it again would deadlock",
            )
            .named(self.name()),
        )
    }

    /// The lock, granted after its holder died, in an error that may outlive the handle: its
    /// guard keeps a strong count of its own.
    #[cold]
    #[inline(never)]
    fn owner_died(&self) -> LockError<'static> {
        self.handle.guard_counted.store(true, Ordering::Relaxed);
        let counted = Arc::into_raw(Arc::clone(&self.handle));
        // SAFETY: `counted` came from `Arc::into_raw` just now, and the count it carries keeps
        // the handle alive until the guard's drop gives it back.
        LockError::OwnerDied(NamedMutexGuard::new(unsafe { &*counted }))
    }

    /// A failed lock call, which leaves the handle free to try again.
    #[cold]
    #[inline(never)]
    fn failed(&self, failure: Failure) -> LockError<'static> {
        self.handle.held.store(false, Ordering::Relaxed);
        LockError::Failed(failure.named(self.name()))
    }
}

impl<'a> NamedMutexGuard<'a> {
    /// The guard of a lock this handle holds.
    #[inline]
    fn new(handle: &'a Handle) -> Self {
        Self {
            handle: NonNull::from(handle),
            _handle: PhantomData,
            _thread_bound: PhantomData,
        }
    }

    #[inline]
    fn handle(&self) -> &Handle {
        // SAFETY: the handle lives while the guard does: through the borrow `'a` of its
        // `NamedMutex`, or through the strong count the guard owns (`guard_counted`).
        unsafe { self.handle.as_ref() }
    }
}

impl Drop for NamedMutexGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let handle = self.handle();
        // Only the guard's holder touches the flag while the lock is held: no read-modify-write.
        let counted = handle.guard_counted.load(Ordering::Relaxed);
        if counted {
            handle.guard_counted.store(false, Ordering::Relaxed);
        }
        handle.inner.unlock();
        // After this store the handle's thread may lock again: the guard touches the handle
        // no more but to give back its count.
        handle.held.store(false, Ordering::Release);
        if counted {
            // SAFETY: the count `acquire` leaked with `Arc::into_raw` for this guard, given
            // back once (`guard_counted` was cleared above, before anyone could lock again).
            drop(unsafe { Arc::from_raw(self.handle.as_ptr().cast_const()) });
        }
    }
}

impl fmt::Debug for NamedMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutex")
            .field("name", &self.handle.name)
            .field("held", &self.handle.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NamedMutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutexGuard")
            .field("mutex", &self.handle().name)
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
                guard.handle().name
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

/// An owned error that is `Send` and `Sync` (for functions that return a
/// [`SharedMemoryError`], or `anyhow::Error`): a failure as it is, and a holder's death as
/// [`SharedMemoryError::OwnerDied`], whose conversion drops the guard and so unlocks the mutex,
/// as its message says (the next locker is not told again, as on Windows). To keep the lock,
/// use [`LockError::into_inner`], or let `?` carry the `LockError` itself into a
/// `Box<dyn Error>`, where it holds the lock until it is dropped.
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
                name: guard.handle().name.clone(),
            },
            LockError::Failed(error) => error,
        }
    }
}
