//! A mutex shared by name across processes, which survives the death of its holder.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::time::Duration;

use crate::SharedMemoryError;
use crate::name::RegionName;

/// A mutex that processes share by name, with an RAII guard.
///
/// When a process dies holding it, the next locker gets it with
/// [`LockError::OwnerDied`]: the data it protects may be half-updated, and the caller must
/// check or repair it (then use the guard in the error as usual). Nothing hangs.
///
/// - Windows: a named mutex (`CreateMutexW`), `WAIT_ABANDONED` on owner death. Its name is the
///   one given, so it interoperates with programs that publish a named mutex.
/// - Linux: a robust, process-shared pthread mutex (`EOWNERDEAD`, `pthread_mutex_consistent`)
///   in a small region of the crate's own named `<name>#mutex`, with the crate's region
///   lifetime. An uncontended lock makes no system call.
/// - Other Unix systems (macOS): no robust mutexes; an exclusive `flock` on a file in the
///   temporary directory, which the kernel releases when its holder dies, plus a held flag in
///   the file to tell owner death. The file stays in the temporary directory.
///
/// A handle is for one thread at a time (`Send`, not `Sync`): give each thread its own, as the
/// lock belongs to the thread that took it. A thread must not lock a mutex it already holds:
/// through the same handle that is refused on every platform; through another handle it is
/// refused on Linux (`EDEADLK`), granted again (recursively) on Windows, and waits forever on
/// macOS.
///
/// On Windows, mutexes, events and file mappings share one name space: a mutex cannot take the
/// name of a region (the OS reports an invalid handle). On Unix the crate keeps them apart.
/// `lock_timeout` on Linux measures its timeout on the wall clock, as
/// `pthread_mutex_timedlock` does.
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
    /// Dropped by hand: not while a forgotten guard still holds the lock.
    inner: ManuallyDrop<imp::Mutex>,
    name: String,
    /// Whether this handle holds the lock, to refuse locking it twice.
    held: std::cell::Cell<bool>,
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
    /// Opens the mutex of that name, creating it (unlocked) if no process has it.
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
        let name = RegionName::new(name.as_ref())?;
        Ok(Self {
            inner: ManuallyDrop::new(imp::Mutex::open_or_create(&name)?),
            name: name.as_str().to_owned(),
            held: std::cell::Cell::new(false),
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
    pub fn lock(&self) -> Result<NamedMutexGuard<'_>, LockError<'_>> {
        self.acquire(None)?.ok_or_else(|| {
            LockError::Failed(self.failure("lock", "an unbounded wait returned without the lock"))
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
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'_>> {
        self.acquire(Some(timeout))
    }

    /// Waits for the lock (`None`: forever) and wraps the outcome.
    fn acquire(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<NamedMutexGuard<'_>>, LockError<'_>> {
        if self.held.get() {
            return Err(LockError::Failed(self.failure(
                "lock",
                "this handle already holds the mutex; locking it again would deadlock",
            )));
        }
        let outcome = self.inner.lock(timeout).map_err(|(call, source)| {
            LockError::Failed(SharedMemoryError::Synchronization {
                name: self.name.clone(),
                call,
                source,
            })
        })?;
        let guard = || {
            self.held.set(true);
            NamedMutexGuard {
                mutex: self,
                _thread_bound: PhantomData,
            }
        };
        match outcome {
            imp::Acquired::Locked => Ok(Some(guard())),
            imp::Acquired::OwnerDied => Err(LockError::OwnerDied(guard())),
            imp::Acquired::TimedOut => Ok(None),
        }
    }

    /// An error of this mutex that the OS did not report.
    fn failure(&self, call: &'static str, message: &'static str) -> SharedMemoryError {
        SharedMemoryError::Synchronization {
            name: self.name.clone(),
            call,
            source: imp::error(message),
        }
    }
}

impl Drop for NamedMutex {
    fn drop(&mut self) {
        // A guard that was forgotten leaves the lock held: on Linux the thread's robust-mutex
        // list still points into the region, so the region must stay mapped (as std does for
        // a locked pthread mutex). The leak is the price of the forgotten guard.
        if !self.held.get() {
            // SAFETY: `inner` is dropped once, here, and not used after.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
        }
    }
}

impl Drop for NamedMutexGuard<'_> {
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

impl std::error::Error for LockError<'_> {}

#[cfg(windows)]
mod imp {
    //! A Win32 named mutex.

    use std::time::Duration;

    use windows::Win32::Foundation::{
        CloseHandle, HANDLE, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
    };
    use windows::Win32::System::Threading::{CreateMutexW, ReleaseMutex};
    use windows::core::PCWSTR;

    use crate::name::RegionName;
    use crate::{OsError, SharedMemoryError};

    pub(super) enum Acquired {
        Locked,
        OwnerDied,
        TimedOut,
    }

    pub(super) struct Mutex(HANDLE);

    // SAFETY: a mutex handle may be used and closed from any thread; the lock itself is
    // released only by the guard, which stays on the locking thread.
    unsafe impl Send for Mutex {}

    impl Mutex {
        pub(super) fn open_or_create(name: &RegionName) -> Result<Self, SharedMemoryError> {
            // SAFETY: the name is NUL-terminated UTF-16 that outlives the call; default
            // security; not initially owned.
            let handle = unsafe { CreateMutexW(None, false, PCWSTR(name.encoded().as_ptr())) }
                .map_err(|source| SharedMemoryError::Synchronization {
                    name: name.as_str().to_owned(),
                    call: "CreateMutexW",
                    source,
                })?;
            Ok(Self(handle))
        }

        pub(super) fn lock(
            &self,
            timeout: Option<Duration>,
        ) -> Result<Acquired, (&'static str, OsError)> {
            match super::super::wait_for_object(self.0, timeout) {
                WAIT_OBJECT_0 => Ok(Acquired::Locked),
                WAIT_ABANDONED => Ok(Acquired::OwnerDied),
                WAIT_TIMEOUT => Ok(Acquired::TimedOut),
                _ => Err(("WaitForSingleObject", OsError::from_thread())),
            }
        }

        pub(super) fn unlock(&self) {
            // SAFETY: called by the guard, on the thread that holds the mutex. Releasing a
            // mutex one holds cannot fail.
            let _ = unsafe { ReleaseMutex(self.0) };
        }
    }

    impl Drop for Mutex {
        fn drop(&mut self) {
            // SAFETY: the handle is open, owned by this value, and closed only here.
            let _ = unsafe { CloseHandle(self.0) };
        }
    }

    pub(super) fn error(message: &'static str) -> OsError {
        OsError::new(windows::Win32::Foundation::E_FAIL, message)
    }
}

#[cfg(target_os = "linux")]
mod imp {
    //! A robust, process-shared pthread mutex in a region of the crate's own.

    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use crate::name::RegionName;
    use crate::{OsError, ReadWrite, SharedMemory, SharedMemoryError};

    /// The region's layout: an initialisation state, then the mutex.
    #[repr(C)]
    struct Shared {
        state: AtomicU32,
        mutex: UnsafeCell<libc::pthread_mutex_t>,
    }

    /// `state` once the creator has initialised the mutex (a new region is zeros).
    const READY: u32 = 1;

    /// How long an opener waits for a creator that is initialising the mutex.
    const INITIALISATION: Duration = Duration::from_secs(1);

    pub(super) enum Acquired {
        Locked,
        OwnerDied,
        TimedOut,
    }

    pub(super) struct Mutex {
        shared: *mut Shared,
        /// Keeps the region mapped (and alive) while the handle lives.
        _region: SharedMemory<ReadWrite>,
    }

    // SAFETY: the pointer is into the region this value owns; the pthread calls on it are
    // thread-safe, and the lock is released only by the guard, on the locking thread.
    unsafe impl Send for Mutex {}

    impl Mutex {
        pub(super) fn open_or_create(name: &RegionName) -> Result<Self, SharedMemoryError> {
            let region_name = format!("{}#mutex", name.as_str());
            let mut region =
                SharedMemory::<ReadWrite>::get_or_create(&region_name, size_of::<Shared>())?;
            let shared = region.as_mut_ptr().cast::<Shared>();
            let failed = |call, source| SharedMemoryError::Synchronization {
                name: name.as_str().to_owned(),
                call,
                source,
            };
            if region.created() {
                // SAFETY: the region is new, sized and aligned for `Shared` (pages are), and
                // nobody uses the mutex before `state` says it is ready.
                unsafe { initialise(shared) }
                    .map_err(|error| failed("pthread_mutex_init", error))?;
            } else {
                // SAFETY: `state` is an atomic at the start of the mapped region.
                let state = unsafe { &(*shared).state };
                let started = Instant::now();
                while state.load(Ordering::Acquire) != READY {
                    if started.elapsed() > INITIALISATION {
                        return Err(failed(
                            "pthread_mutex_init",
                            super::imp::error("the mutex's creator never finished creating it"),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(Self {
                shared,
                _region: region,
            })
        }

        fn mutex(&self) -> *mut libc::pthread_mutex_t {
            // SAFETY: `shared` points into the mapped region this value owns.
            unsafe { (*self.shared).mutex.get() }
        }

        pub(super) fn lock(
            &self,
            timeout: Option<Duration>,
        ) -> Result<Acquired, (&'static str, OsError)> {
            // SAFETY: the mutex was initialised (state READY) and lives as long as `self`.
            let (call, code) = unsafe {
                match timeout {
                    None => ("pthread_mutex_lock", libc::pthread_mutex_lock(self.mutex())),
                    Some(Duration::ZERO) => (
                        "pthread_mutex_trylock",
                        libc::pthread_mutex_trylock(self.mutex()),
                    ),
                    Some(timeout) => {
                        let deadline = deadline_after(timeout);
                        (
                            "pthread_mutex_timedlock",
                            libc::pthread_mutex_timedlock(self.mutex(), &deadline),
                        )
                    }
                }
            };
            match code {
                0 => Ok(Acquired::Locked),
                libc::EBUSY | libc::ETIMEDOUT => Ok(Acquired::TimedOut),
                libc::EOWNERDEAD => {
                    // SAFETY: we hold the mutex, whose owner died: mark it usable again.
                    match unsafe { libc::pthread_mutex_consistent(self.mutex()) } {
                        0 => Ok(Acquired::OwnerDied),
                        code => {
                            // No guard will release it: let go before reporting.
                            self.unlock();
                            Err(("pthread_mutex_consistent", OsError::from_raw_os_error(code)))
                        }
                    }
                }
                code => Err((call, OsError::from_raw_os_error(code))),
            }
        }

        pub(super) fn unlock(&self) {
            // SAFETY: called by the guard, on the thread that holds the mutex.
            unsafe { libc::pthread_mutex_unlock(self.mutex()) };
        }
    }

    /// Initialises a robust, process-shared, error-checking mutex at `shared` and marks it
    /// ready.
    ///
    /// # Safety
    ///
    /// `shared` must point to a writable `Shared` that no one else uses yet.
    unsafe fn initialise(shared: *mut Shared) -> Result<(), OsError> {
        let check = |code: libc::c_int| match code {
            0 => Ok(()),
            code => Err(OsError::from_raw_os_error(code)),
        };
        // SAFETY: the attribute object is local and initialised before use and destroyed
        // after; the mutex memory is ours alone until `state` is READY.
        unsafe {
            let mut attributes = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attributes.as_mut_ptr()))?;
            let attributes = attributes.as_mut_ptr();
            let result = check(libc::pthread_mutexattr_setpshared(
                attributes,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    attributes,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| {
                check(libc::pthread_mutexattr_settype(
                    attributes,
                    libc::PTHREAD_MUTEX_ERRORCHECK,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init((*shared).mutex.get(), attributes)));
            libc::pthread_mutexattr_destroy(attributes);
            result?;
            (*shared).state.store(READY, Ordering::Release);
        }
        Ok(())
    }

    /// The CLOCK_REALTIME time `timeout` from now, as `pthread_mutex_timedlock` takes it.
    fn deadline_after(timeout: Duration) -> libc::timespec {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        let nanos = u64::try_from(now.tv_nsec).unwrap_or(0) + u64::from(timeout.subsec_nanos());
        let seconds = now
            .tv_sec
            .saturating_add(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX))
            .saturating_add((nanos / 1_000_000_000) as i64);
        libc::timespec {
            // A 32-bit time_t saturates rather than wrapping into the past.
            tv_sec: libc::time_t::try_from(seconds).unwrap_or(libc::time_t::MAX),
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        }
    }

    pub(super) fn error(message: &'static str) -> OsError {
        OsError::other(message)
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    //! Without robust mutexes: an exclusive `flock` on a lock file, released by the kernel when
    //! its holder dies, and a held flag in the file that tells owner death.

    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::time::{Duration, Instant};

    use rustix::fs::FlockOperation;

    use crate::name::RegionName;
    use crate::{OsError, SharedMemoryError};

    pub(super) enum Acquired {
        Locked,
        OwnerDied,
        TimedOut,
    }

    pub(super) struct Mutex(File);

    impl Mutex {
        pub(super) fn open_or_create(name: &RegionName) -> Result<Self, SharedMemoryError> {
            let file_name = format!("wsm-mutex{}", name.encoded().replace('/', "-"));
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(std::env::temp_dir().join(file_name))
                .map(Self)
                .map_err(|source| SharedMemoryError::Synchronization {
                    name: name.as_str().to_owned(),
                    call: "open",
                    source,
                })
        }

        pub(super) fn lock(
            &self,
            timeout: Option<Duration>,
        ) -> Result<Acquired, (&'static str, OsError)> {
            let started = Instant::now();
            loop {
                match rustix::fs::flock(&self.0, FlockOperation::NonBlockingLockExclusive) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::WOULDBLOCK) => {}
                    Err(error) => return Err(("flock", error.into())),
                }
                if timeout.is_some_and(|timeout| started.elapsed() >= timeout) {
                    return Ok(Acquired::TimedOut);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut flag = [0_u8];
            let died = self
                .0
                .read_at(&mut flag, 0)
                .map_err(|error| ("pread", error))?
                == 1
                && flag[0] == 1;
            self.0
                .write_all_at(&[1], 0)
                .map_err(|error| ("pwrite", error))?;
            Ok(if died {
                Acquired::OwnerDied
            } else {
                Acquired::Locked
            })
        }

        pub(super) fn unlock(&self) {
            let _ = self.0.write_all_at(&[0], 0);
            let _ = rustix::fs::flock(&self.0, FlockOperation::Unlock);
        }
    }

    pub(super) fn error(message: &'static str) -> OsError {
        OsError::other(message)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::{ReadWrite, SharedMemory};

    /// glibc keeps a thread's held robust mutexes on a list in user memory and writes through
    /// it on the next lock: the region of a mutex whose guard was forgotten must stay mapped,
    /// or a region mapped at the same address afterwards gets written.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_forgotten_guard_keeps_its_mutex_mapped() {
        let name = |tag: &str| format!("Local\\wsm_unit_mutex_{}_{tag}", std::process::id());
        let forgotten = NamedMutex::new(name("forgotten")).unwrap();
        std::mem::forget(forgotten.lock().unwrap());
        drop(forgotten);
        let region = SharedMemory::<ReadWrite>::create(name("after"), 4096).unwrap();
        let other = NamedMutex::new(name("other")).unwrap();
        drop(other.lock().unwrap());
        let bytes: [u8; 4096] = region.read_at(0).unwrap();
        // The forgotten mutex's region stays this process's until it exits; take its name away
        // now, as no later process could tell it from a crashed holder's before then.
        let _ = std::fs::remove_file(format!("/dev/shm/{}#mutex", &name("forgotten")[6..]));
        assert!(
            bytes.iter().all(|&byte| byte == 0),
            "a later region was written"
        );
    }
}
