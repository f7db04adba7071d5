//! Snapshots across processes through the crate's copy primitive: the two-slot DoubleBuffer,
//! a SeqLock placed in a runtime-sized region (`seqlock_at`), copies into caller buffers
//! (`read_into`, `read_versioned_into`) and byte ranges of run-time length (`read_bytes_at`).

use std::io::Write;
use std::time::Duration;

use libtest_mimic::Failed;
use win_shared_memory::sync::{DoubleBuffer, Versioning};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

use crate::harness::{Outcome, Peer, RoleResult, expect_eq, spawn_child, unique_name};

tests! {
    double_buffer_snapshots_are_never_torn_across_processes,
    a_double_buffer_by_size_is_the_typed_one_across_processes,
    writers_by_size_take_turns_and_never_tear_a_value,
    a_seqlock_at_an_offset_is_shared_across_processes,
    read_versioned_into_copies_a_publishing_process_whole,
    read_bytes_at_copies_run_time_ranges_of_another_process,
}

roles! {
    "double-buffer-read" => double_buffer_read,
    "double-buffer-read-bytes" => double_buffer_read_bytes,
    "seqlock-at-read" => seqlock_at_read,
    "bytes-publish" => bytes_publish,
}

/// A 4 KiB snapshot whose words must all agree: any torn copy shows.
type Snapshot = [u64; 512];

/// Copies each reader process takes while the writer publishes (fewer under Wine, where each
/// copy's clock reads and yields cost far more).
const READS: &str = if cfg!(windows) { "50000" } else { "200000" };

/// Where the runtime-sized region keeps its SeqLock, and the region's size.
const SEQLOCK_OFFSET: usize = 128;
const REGION_LEN: usize = 4096;

/// How long a reader may wait for a copy that no write overtook.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The tests.

/// A writer publishes in bursts (so that writes overtake copies) while two reader processes
/// copy from read-only views: every copy is whole, none goes back, and they see progress.
fn double_buffer_snapshots_are_never_torn_across_processes() -> Outcome {
    let name = unique_name("double_buffer");
    let link = SharedMemoryLink::<DoubleBuffer<Snapshot>, ReadWrite>::create(&name)?;
    publish_while_read(&name, "double-buffer-read", |round| {
        link.double_buffer()
            .write(&[round; 512])
            .map_err(|error| error.to_string())
    })
}

/// A double buffer by size, both ways: `write_double_buffer` publishes to typed readers in
/// other processes, and `read_double_buffer_into` in other processes copies a typed writer's
/// values, never torn; a layout that does not fit is refused.
fn a_double_buffer_by_size_is_the_typed_one_across_processes() -> Outcome {
    let name = unique_name("double_buffer_bytes");
    let link = SharedMemoryLink::<DoubleBuffer<Snapshot>, ReadWrite>::create(&name)?;
    let mut region = SharedMemory::<ReadWrite>::open_existing(&name)?;
    publish_while_read(&name, "double-buffer-read", |round| {
        region
            .write_double_buffer(0, &[round; 512])
            .map_err(|error| error.to_string())
    })?;
    publish_while_read(&name, "double-buffer-read-bytes", |round| {
        link.double_buffer()
            .write(&[round + 1_000_000_000; 512])
            .map_err(|error| error.to_string())
    })
}

/// Two writers by size at once, each with its own handle, and a typed reader: the writers take
/// turns (a live writer is never taken over as a dead one is), so no copy the reader accepts
/// mixes their values. Half a megabyte a value, so that writes overlap.
fn writers_by_size_take_turns_and_never_tear_a_value() -> Outcome {
    type Large = [u64; 65_536];
    let name = unique_name("double_buffer_two_writers");
    let link = SharedMemoryLink::<DoubleBuffer<Large>, ReadWrite>::create(&name)?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writer = |first: u64| -> Result<u64, String> {
        let mut region =
            SharedMemory::<ReadWrite>::open_existing(&name).map_err(|e| e.to_string())?;
        let mut value = vec![0_u64; 65_536];
        let mut written = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            value.fill(first + written);
            region
                .write_double_buffer(0, value.as_slice())
                .map_err(|error| error.to_string())?;
            written += 1;
        }
        Ok(written)
    };
    let (torn, copies, written) = std::thread::scope(|scope| {
        let writers = [scope.spawn(|| writer(1)), scope.spawn(|| writer(1 << 40))];
        let read = (|| {
            let mut copy = Box::new([0_u64; 65_536]);
            let (mut torn, mut copies) = (0, 0);
            let end = std::time::Instant::now() + Duration::from_millis(1500);
            while std::time::Instant::now() < end {
                link.double_buffer().read_into(&mut copy, PATIENCE)?;
                copies += 1;
                torn += usize::from(copy.iter().any(|&word| word != copy[0]));
            }
            Ok::<_, Failed>((torn, copies))
        })();
        // The writers stop whatever the reader met, so that the scope ends.
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let written: Result<Vec<u64>, String> = writers
            .map(|writer| writer.join().expect("a writer thread"))
            .into_iter()
            .collect();
        let (torn, copies) = read?;
        Ok::<_, Failed>((torn, copies, written?))
    })?;
    if torn != 0 || written.contains(&0) {
        return Err(format!("{torn} torn of {copies} copies; writes {written:?}").into());
    }
    Ok(())
}

/// A SeqLock at an offset of a region whose size is chosen at run time: a reader process gets
/// the reading half from a read-only handle, copies whole values while the writer publishes,
/// and is refused misaligned and out-of-bounds offsets.
fn a_seqlock_at_an_offset_is_shared_across_processes() -> Outcome {
    let name = unique_name("seqlock_at");
    let region = SharedMemory::<ReadWrite>::create(&name, REGION_LEN)?;
    let lock = region.seqlock_at::<[u64; 64]>(SEQLOCK_OFFSET)?;
    publish_while_read(&name, "seqlock-at-read", |round| {
        lock.write(&[round; 64]).map_err(|error| error.to_string())
    })
}

/// `read_versioned_into` copies a publishing process's data whole into a caller's buffer.
fn read_versioned_into_copies_a_publishing_process_whole() -> Outcome {
    let name = unique_name("versioned_into");
    let mut publisher = spawn_child("versioned-publish", &[&name, "100000"])?;
    publisher.expect_line("ready")?;
    let region = SharedMemory::<ReadOnly>::open(&name)?;
    let mut copy = Box::new([0_u64; 512]);
    for versioning in [
        Versioning::BeginEnd { begin: 0, end: 4 },
        Versioning::OddEven { sequence: 8 },
    ] {
        let mut last = 0;
        for _ in 0..20_000 {
            region.read_versioned_into(16, versioning, &mut *copy, PATIENCE)?;
            if copy.iter().any(|&word| word != copy[0]) || copy[0] < last {
                return Err(format!("{versioning:?}: torn or backward copy after {last}").into());
            }
            last = copy[0];
        }
    }
    publisher.finish()
}

/// `read_bytes_at` copies ranges of every length and offset that another process wrote, and
/// refuses a range past the end.
fn read_bytes_at_copies_run_time_ranges_of_another_process() -> Outcome {
    let name = unique_name("read_bytes_at");
    let mut publisher = spawn_child("bytes-publish", &[&name])?;
    publisher.expect_line("ready")?;
    let region = SharedMemory::<ReadOnly>::open(&name)?;
    let expected = pattern();
    for offset in [0, 1, 7, 64, 1000] {
        for len in [0, 1, 3, 16, 63, 64, 65, 300, 2000] {
            let mut bytes = vec![0_u8; len];
            region.read_bytes_at(offset, &mut bytes)?;
            expect_eq(bytes.as_slice(), &expected[offset..offset + len])?;
        }
    }
    let mut past_the_end = vec![0_u8; 2];
    if region
        .read_bytes_at(REGION_LEN - 1, &mut past_the_end)
        .is_ok()
    {
        return Err("a range past the end was copied".into());
    }
    publisher.finish()
}

/// Spawns two `role` readers of the region `name`, publishes rounds with `publish` until they
/// are done (bursts of 16, then a pause), and checks their verdicts.
fn publish_while_read(
    name: &str,
    role: &str,
    mut publish: impl FnMut(u64) -> Result<(), String> + Send,
) -> Outcome {
    let mut readers = (0..2)
        .map(|_| spawn_child(role, &[name, READS]))
        .collect::<Result<Vec<_>, _>>()?;
    for reader in &mut readers {
        reader.expect_line("ready")?;
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let (answers, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut round = 0_u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                round += 1;
                publish(round)?;
                if round % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            Ok::<u64, String>(round)
        });
        let answers: Result<Vec<String>, Failed> =
            readers.iter_mut().map(Peer::read_line).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (answers, writer.join().expect("the writer thread"))
    });
    let written = written?;
    for answer in answers? {
        match answer.split(' ').collect::<Vec<_>>().as_slice() {
            ["torn=0", distinct, "refused=yes"] => {
                let distinct: u64 = distinct.trim_start_matches("distinct=").parse()?;
                if distinct < 2 {
                    return Err(format!("no progress seen in {written} writes: {answer}").into());
                }
            }
            _ => return Err(format!("a reader saw torn or backward copies: {answer}").into()),
        }
    }
    readers.into_iter().try_for_each(Peer::finish)
}

/// The bytes `bytes-publish` writes.
fn pattern() -> Vec<u8> {
    (0..REGION_LEN)
        .map(|index| (index * 13 + 7) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The child roles.

fn double_buffer_read(name: &str, args: &[String]) -> RoleResult {
    let link = SharedMemoryLink::<DoubleBuffer<Snapshot>, ReadOnly>::open(name)?;
    let reader = link.double_buffer();
    let mut snapshot = Box::new([0_u64; 512]);
    check_copies(args, "yes", || {
        reader.read_into(&mut snapshot, PATIENCE)?;
        Ok(snapshot.to_vec())
    })
}

/// As `double-buffer-read`, by size: a value of 4 KiB (given, not taken from the region's
/// length, which Wine rounds up to whole pages), and `refused` if a misaligned offset and a
/// value too large for the region are.
fn double_buffer_read_bytes(name: &str, args: &[String]) -> RoleResult {
    let region = SharedMemory::<ReadOnly>::open(name)?;
    let mut bytes = vec![0_u8; size_of::<Snapshot>()];
    let mut too_large = vec![0_u8; region.len()];
    let misaligned = region.read_double_buffer_into(4, &mut [0_u8; 16], PATIENCE);
    let outside = region.read_double_buffer_into(0, too_large.as_mut_slice(), PATIENCE);
    let refused = matches!(
        misaligned,
        Err(SharedMemoryError::Misaligned { offset: 4, .. })
    ) && matches!(
        outside,
        Err(SharedMemoryError::OutOfBounds { offset: 0, .. })
    );
    check_copies(args, if refused { "yes" } else { "no" }, || {
        region.read_double_buffer_into(0, bytes.as_mut_slice(), PATIENCE)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|word| u64::from_ne_bytes(word.try_into().unwrap_or_default()))
            .collect())
    })
}

fn seqlock_at_read(name: &str, args: &[String]) -> RoleResult {
    let region = SharedMemory::<ReadOnly>::open(name)?;
    let refused = region.seqlock_at::<[u64; 64]>(SEQLOCK_OFFSET + 4).is_err()
        && region.seqlock_at::<[u64; 64]>(REGION_LEN - 256).is_err();
    let lock = region.seqlock_at::<[u64; 64]>(SEQLOCK_OFFSET)?;
    let mut value = [0_u64; 64];
    check_copies(args, if refused { "yes" } else { "no" }, || {
        lock.read_into(&mut value, PATIENCE)?;
        Ok(value.to_vec())
    })
}

/// Says it is ready, takes `args[1]` copies (and goes on until it has seen the writer's
/// progress, for at most [`PATIENCE`]: a loaded machine may run the reader's copies before the
/// writer's first write), and prints how many were torn, whether any went backward, how many
/// distinct values it saw and `refused`; then waits for stdin to close.
fn check_copies(
    args: &[String],
    refused: &str,
    mut copy: impl FnMut() -> Result<Vec<u64>, Box<dyn std::error::Error>>,
) -> RoleResult {
    let reads: usize = args[1].parse()?;
    println!("ready");
    std::io::stdout().flush()?;
    let (mut torn, mut backward, mut distinct, mut last) = (0, 0, 0_u64, 0);
    let started = std::time::Instant::now();
    let mut taken = 0;
    while taken < reads || (distinct < 2 && started.elapsed() < PATIENCE) {
        taken += 1;
        let words = copy()?;
        if words.iter().any(|&word| word != words[0]) {
            torn += 1;
        }
        if words[0] < last {
            backward += 1;
        }
        if words[0] != last {
            distinct += 1;
        }
        last = words[0];
    }
    let verdict = if backward == 0 { "" } else { "-backward" };
    println!("torn={torn}{verdict} distinct={distinct} refused={refused}");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}

fn bytes_publish(name: &str, _args: &[String]) -> RoleResult {
    let mut region = SharedMemory::<ReadWrite>::create(name, REGION_LEN)?;
    region.write_at(0, pattern().as_slice())?;
    println!("ready");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}
