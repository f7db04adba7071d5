//! Hostile conditions at scale: another process scribbling random bytes over a region, and
//! holders killed at random points while they create, open and drop shared names.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use libtest_mimic::Failed;
use win_shared_memory::sync::{LockError, NamedMutex, SeqLock, Versioning};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

use crate::harness::{
    LOCK_PATIENCE, MIB, Mib, Outcome, Peer, RoleResult, expect_no_shm_object, spawn_child,
    unique_name,
};

tests! {
    scribbled_regions_never_make_the_safe_api_misbehave,
    killing_holders_at_random_points_leaks_nothing ignored_if true,
}

roles! {
    "scribble" => scribble,
    "churn" => churn,
}

/// The region the scribbler writes random bytes all over.
const SCRIBBLED_LEN: usize = 4096;

/// How many holders the stress run kills; `WSM_STRESS_KILLS` overrides it.
const STRESS_KILLS: usize = 1000;

/// How many children churn at once in the stress run.
const STRESS_CHURNERS: usize = 3;

/// The names the stress run's children fight over.
const STRESS_NAMES: usize = 4;

/// What the churners publish under their seqlock: large enough that kills land mid-write.
type StressValue = [u64; 512];

// ---------------------------------------------------------------------------------------------
// The tests.

/// Another process writes random bytes all over a region while this one reads it through every
/// safe API for a second: each call gives a value or one of the errors that say why, never a
/// panic, a hang or a read past the end.
fn scribbled_regions_never_make_the_safe_api_misbehave() -> Outcome {
    let name = unique_name("scribble");
    let _region = SharedMemory::<ReadWrite>::create(&name, SCRIBBLED_LEN)?;
    let mut scribbler = spawn_child("scribble", &[&name])?;
    scribbler.expect_line("scribbling")?;
    let plain = SharedMemoryLink::<[u32; 64], ReadOnly>::open(&name)?;
    let locked = SharedMemoryLink::<SeqLock<[u64; 16]>, ReadOnly>::open(&name)?;
    let region = SharedMemory::<ReadOnly>::open(&name)?;
    let patience = std::time::Duration::from_millis(1);
    let (started, mut calls, mut values) = (std::time::Instant::now(), 0_usize, 0_usize);
    while started.elapsed() < std::time::Duration::from_secs(1) {
        std::hint::black_box(plain.read()[calls % 64]);
        match locked.seqlock().read_within(patience) {
            Ok(_) => values += 1,
            Err(_stalled_or_starved) => {}
        }
        // Offsets run past the end on purpose: those must be refused, not read.
        let offset = calls % (SCRIBBLED_LEN + 64);
        match region.read_at::<[u64; 8]>(offset) {
            Ok(_) => values += 1,
            Err(SharedMemoryError::OutOfBounds { .. }) if offset + 64 > SCRIBBLED_LEN => {}
            Err(other) => return Err(format!("read_at({offset}): {other}").into()),
        }
        let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
        match region.read_versioned::<[u64; 4]>(8, versioning, patience) {
            Ok(_) | Err(SharedMemoryError::Inconsistent { .. }) => {}
            Err(other) => return Err(format!("read_versioned: {other}").into()),
        }
        calls += 1;
    }
    scribbler.finish()?;
    if values == 0 {
        return Err(format!("{calls} rounds of calls and not one value").into());
    }
    Ok(())
}

/// Kills children at random points while they create, open and drop a few shared names, then
/// checks that every name can be created again and that nothing is left once it is dropped.
fn killing_holders_at_random_points_leaks_nothing() -> Outcome {
    let kills = match std::env::var("WSM_STRESS_KILLS") {
        Ok(count) => count
            .parse()
            .map_err(|_| "WSM_STRESS_KILLS is not a number")?,
        Err(_) => STRESS_KILLS,
    };
    let prefix = unique_name("stress");
    let mut random = Xorshift::seeded();
    let churner = || -> Result<Peer, Failed> {
        // Starting a process is the OS's part, not the crate's: under Wine on a loaded machine
        // it can fail once (ERROR_INTERNAL_ERROR), so it gets a second chance.
        let mut churner = spawn_child("churn", &[&prefix])
            .or_else(|_| spawn_child("churn", &[&prefix]))
            .map_err(|error| format!("starting a churner: {error:?}"))?;
        churner.expect_line("churning")?;
        Ok(churner)
    };
    // Several churners at once, so that creates, opens and drops race across processes; each
    // round kills one of them at a random moment and starts another.
    // This process holds the churners' mutex and seqlock throughout, so that they outlive
    // every churner and each kill leaves them as a dead holder does.
    let mutex = NamedMutex::new(format!("{prefix}_mutex"))?;
    let seqlock =
        SharedMemoryLink::<SeqLock<StressValue>, ReadWrite>::create(format!("{prefix}_seqlock"))?;
    let (mut owner_deaths, mut recoveries) = (0, 0);
    let mut churners = (0..STRESS_CHURNERS)
        .map(|_| churner())
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..kills {
        std::thread::sleep(std::time::Duration::from_micros(random.below(3000)));
        let victim = random.below(STRESS_CHURNERS as u64) as usize;
        churners[victim]
            .kill()
            .map_err(|error| format!("killing a churner: {error:?}"))?;
        // After every kill the mutex can be had, and with it the seqlock, at once.
        let (guard, died) = match mutex.lock_timeout(LOCK_PATIENCE) {
            Ok(Some(guard)) => (guard, false),
            Err(LockError::OwnerDied(guard)) => (guard, true),
            other => return Err(format!("the mutex after a kill: {other:?}").into()),
        };
        owner_deaths += usize::from(died);
        if recover_seqlock(seqlock.seqlock())? {
            recoveries += 1;
        }
        drop(guard);
        churners[victim] = churner()?;
    }
    for mut survivor in churners {
        survivor.kill()?;
    }
    eprintln!(
        "stress: {kills} kills, {owner_deaths} mutex owner deaths, {recoveries} seqlock recoveries"
    );
    drop((mutex, seqlock));
    expect_no_shm_object(&format!("{prefix}_mutex#mutex"))?;
    expect_no_shm_object(&format!("{prefix}_seqlock"))?;
    for index in 0..STRESS_NAMES {
        let name = format!("{prefix}_{index}");
        let link = SharedMemoryLink::<Mib, ReadWrite>::create(&name)?;
        // SAFETY: nobody else holds the region: every churner is dead.
        if unsafe { link.get() }.iter().any(|&byte| byte != 0) {
            return Err(format!("{name} was created again but is not zero-filled").into());
        }
        drop(link);
        expect_no_shm_object(&name)?;
    }
    Ok(())
}

/// Takes over the seqlock if a killed writer left it mid-write (the caller holds the mutex the
/// writers write under, so none is alive); whether it had to.
fn recover_seqlock(lock: &SeqLock<StressValue>) -> Result<bool, Failed> {
    match lock.read_within(std::time::Duration::from_millis(1)) {
        Ok(_) => Ok(false),
        Err(win_shared_memory::sync::SeqLockError::Stalled { .. }) => {
            lock.recover(&[0; 512])?;
            lock.read()?;
            Ok(true)
        }
        Err(other) => Err(format!("the seqlock after a kill: {other}").into()),
    }
}

/// A small, seedable random number generator: the stress run only needs kill times that vary.
struct Xorshift(u64);

impl Xorshift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.subsec_nanos());
        Self(u64::from(nanos) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

// ---------------------------------------------------------------------------------------------
// The child roles.

fn scribble(name: &str, _: &[String]) -> RoleResult {
    let mut region = SharedMemory::<ReadWrite>::open_existing(name)?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stopper = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        stopper.store(true, Ordering::Relaxed);
    });
    println!("scribbling");
    std::io::stdout().flush()?;
    let mut random = Xorshift::seeded();
    while !stop.load(Ordering::Relaxed) {
        let offset = random.below((SCRIBBLED_LEN - 8) as u64) as usize;
        region.write_at(offset, &random.below(u64::MAX))?;
    }
    Ok(())
}

fn churn(name: &str, _: &[String]) -> RoleResult {
    println!("churning");
    std::io::stdout().flush()?;
    let mutex = NamedMutex::new(format!("{name}_mutex"))?;
    let seqlock = SharedMemoryLink::<SeqLock<StressValue>, ReadWrite>::open_existing(format!(
        "{name}_seqlock"
    ))?;
    for round in 0.. {
        // Publish under the mutex, as writers that may die must: a locker told that
        // the owner died knows the seqlock's writer is gone and may recover it.
        let guard = match mutex.lock_timeout(LOCK_PATIENCE) {
            Ok(Some(guard)) | Err(LockError::OwnerDied(guard)) => guard,
            other => return Err(format!("the mutex: {other:?}").into()),
        };
        if recover_seqlock(seqlock.seqlock()).is_err() {
            return Err("the seqlock could not be recovered".into());
        }
        // Long enough under the lock that many kills land there, some mid-write.
        for _ in 0..64 {
            seqlock.seqlock().write(&[round as u64; 512])?;
        }
        drop(guard);
        let name = format!("{name}_{}", round % STRESS_NAMES);
        let link = SharedMemoryLink::<[AtomicU8; MIB], ReadWrite>::get_or_create(&name)?;
        // SAFETY: the churners share the bytes only through atomics, and any bit
        // pattern is a valid AtomicU8.
        unsafe { link.get()[round % MIB].store(1, Ordering::Relaxed) };
        let _reader = SharedMemoryLink::<Mib, ReadOnly>::open(&name)?;
    }
    Ok(())
}
