//! The bandwidth of consistent 1 MiB snapshots, quiet and while another process publishes
//! every millisecond, against a single-process memcpy; and the publishing processes' roles.

use std::hint::black_box;
use std::time::{Duration, Instant};

use win_shared_memory::sync::{DoubleBuffer, SeqLock};
use win_shared_memory::{ReadWrite, SharedMemoryLink};

use crate::processes::{pause, resume, say_ready, start_role};

/// The roles of the processes that publish into the SeqLock and into the DoubleBuffer.
pub const SEQLOCK_PUBLISHER: &str = "publish-mib";
pub const DOUBLE_BUFFER_PUBLISHER: &str = "publish-mib-double";

const MIB_WORDS: usize = (1 << 20) / 8;
/// Copies in a batch, and batches; a contender's figure is its median batch's mean copy.
const SNAPSHOTS: u32 = 200;
const SNAPSHOT_BATCHES: usize = 21;

/// A 1 MiB value.
type Mib = [u64; MIB_WORDS];

/// Consistent 1 MiB snapshots copied out of a region, quiet and while another process publishes
/// every millisecond, against a single-process memcpy of the same size, interleaved batch by
/// batch (each publisher runs only during its contender's batches).
pub fn table() {
    let pid = std::process::id();
    let region = |what: &str| format!("Local\\wsm_ipc_{pid}_mib_{what}");
    let quiet =
        SharedMemoryLink::<SeqLock<Mib>, ReadWrite>::create(region("quiet")).expect("create");
    let busy =
        SharedMemoryLink::<SeqLock<Mib>, ReadWrite>::create(region("seqlock")).expect("create");
    let double =
        SharedMemoryLink::<DoubleBuffer<Mib>, ReadWrite>::create(region("double")).expect("create");
    let mut publishers = [
        start_role(SEQLOCK_PUBLISHER, &[&region("seqlock")]),
        start_role(DOUBLE_BUFFER_PUBLISHER, &[&region("double")]),
    ];
    publishers.iter().for_each(pause);

    let source = vec![1_u64; MIB_WORDS];
    let mut snapshot = Box::new([0_u64; MIB_WORDS]);
    let patience = Duration::from_secs(10);
    let copy = |contender: usize, snapshot: &mut Mib| match contender {
        0 => snapshot.copy_from_slice(black_box(&source)),
        1 => quiet
            .seqlock()
            .read_into(snapshot, patience)
            .expect("a snapshot"),
        2 => busy
            .seqlock()
            .read_into(snapshot, patience)
            .expect("a snapshot"),
        _ => double
            .double_buffer()
            .read_into(snapshot, patience)
            .expect("a snapshot"),
    };
    let publisher = |contender: usize| contender.checked_sub(2);
    let mut batches = vec![Vec::new(); 4];
    for batch in 0..SNAPSHOT_BATCHES {
        // Each batch starts with the next contender, so that none always follows the same one.
        let mut turns: Vec<_> = batches.iter_mut().enumerate().collect();
        turns.rotate_left(batch % 4);
        for (contender, batches) in turns {
            if let Some(index) = publisher(contender) {
                resume(&publishers[index]);
                // Let it publish before the batch starts.
                std::thread::sleep(Duration::from_millis(2));
            }
            let started = Instant::now();
            for _ in 0..SNAPSHOTS {
                copy(contender, &mut snapshot);
                black_box(&mut snapshot);
            }
            batches.push(started.elapsed() / SNAPSHOTS);
            if let Some(index) = publisher(contender) {
                pause(&publishers[index]);
            }
        }
    }
    for publisher in &mut publishers {
        let _ = publisher.kill();
        let _ = publisher.wait();
    }
    let [memcpy, quiet, busy, double] = [0, 1, 2, 3].map(|contender| {
        let batches = &mut batches[contender];
        batches.sort();
        batches[SNAPSHOT_BATCHES / 2]
    });
    let rate = |time: Duration| (1 << 20) as f64 / time.as_secs_f64() / f64::from(1 << 30);
    let ratio = |time: Duration| rate(time) / rate(memcpy);
    println!();
    println!(
        "| 1 MiB, median of {SNAPSHOT_BATCHES} interleaved batches of {SNAPSHOTS} copies | time | GiB/s | vs memcpy | target |"
    );
    println!("|---|---|---|---|---|");
    let rows = [
        ("SeqLock snapshot, no writer", quiet, "at least 0.95x"),
        (
            "SeqLock snapshot, another process publishing every ms",
            busy,
            "at least 0.65x",
        ),
        (
            "DoubleBuffer snapshot, another process publishing every ms",
            double,
            "at least 0.90x",
        ),
        ("memcpy in one process", memcpy, ""),
    ];
    for (what, time, target) in rows {
        println!(
            "| {what} | {time:.2?} | {:.2} | {:.2}x | {target} |",
            rate(time),
            ratio(time)
        );
    }
    println!("target snapshot-quiet {:.4} at-least 0.95", ratio(quiet));
    println!(
        "target snapshot-seqlock-writer {:.4} at-least 0.65",
        ratio(busy)
    );
    println!(
        "target snapshot-double-buffer-writer {:.4} at-least 0.9",
        ratio(double)
    );
}

/// The bandwidth run's SeqLock publisher: a new 1 MiB value every millisecond.
pub fn publish_seqlock(name: &str) {
    let link = SharedMemoryLink::<SeqLock<Mib>, ReadWrite>::open_existing(name).expect("open");
    publish_every_ms(|value| link.seqlock().write(value).expect("write"));
}

/// The bandwidth run's DoubleBuffer publisher: a new 1 MiB value every millisecond.
pub fn publish_double_buffer(name: &str) {
    let link = SharedMemoryLink::<DoubleBuffer<Mib>, ReadWrite>::open_existing(name).expect("open");
    publish_every_ms(|value| link.double_buffer().write(value).expect("write"));
}

/// Says it is ready, then publishes a new 1 MiB value every millisecond.
fn publish_every_ms(publish: impl Fn(&Mib)) -> ! {
    let mut value = Box::new([0_u64; MIB_WORDS]);
    say_ready();
    for round in 1.. {
        value.fill(round);
        publish(&value);
        std::thread::sleep(Duration::from_millis(1));
    }
    unreachable!("the publisher runs until killed")
}
