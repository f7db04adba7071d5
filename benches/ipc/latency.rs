//! One-way latency: half a round trip through each transport, for 64 B and 4 KiB payloads.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::processes::{pause, resume, start_role};
use crate::transports::{Publisher, RoundTrip, Transport};

/// Round trips in a batch, and batches; the median batch is reported.
const ROUNDS: u64 = 5_000;
const BATCHES: usize = 5;

/// The payloads, in 8-byte words: 64 B and 4 KiB.
const PAYLOADS: [usize; 2] = [8, 512];

/// The first transports, measured interleaved, as the SeqLock targets compare them: the
/// atomic floor, the minimal seqlock, `SeqLock` and `SeqLock` written with the writer role, in
/// this order.
const INTERLEAVED: [&str; 4] = ["atomic", "minimal", "seqlock", "seqlock-role"];

/// The interleaved contenders run more, shorter batches: a batch that a busy neighbour hits
/// then moves the median less.
const INTERLEAVED_BATCHES: usize = 21;
const INTERLEAVED_ROUNDS: u64 = 2_000;

/// The SeqLock latency targets: at most this many times the minimal seqlock, per payload, for
/// `write` and, the writer role held, `write_as`.
const SEQLOCK_TARGETS: [f64; 2] = [1.15, 1.10];
const SEQLOCK_ROLE_TARGETS: [f64; 2] = [1.05, 1.05];

/// Prints the latency table of `transports` (the [`INTERLEAVED`] ones first) and the SeqLock
/// targets.
pub fn table(transports: &[Transport]) {
    let roles: Vec<&str> = transports.iter().map(|transport| transport.role).collect();
    assert_eq!(
        roles[..INTERLEAVED.len()],
        INTERLEAVED,
        "the interleaved transports come first"
    );
    println!(
        "| one-way latency (half a round trip), median batch (the first four: {INTERLEAVED_BATCHES} x {INTERLEAVED_ROUNDS}, interleaved; the others {BATCHES} x {ROUNDS}) | 64 B | 4 KiB | 64 B vs atomic floor |"
    );
    println!("|---|---|---|---|");
    let interleaved: Vec<Vec<Duration>> = PAYLOADS
        .iter()
        .map(|&words| measure_interleaved(&transports[..INTERLEAVED.len()], words))
        .collect();
    let floor = interleaved[0][0];
    let mut targets = Vec::new();
    for (index, transport) in transports.iter().enumerate() {
        let latencies: Vec<Duration> = if index < INTERLEAVED.len() {
            interleaved.iter().map(|payload| payload[index]).collect()
        } else {
            PAYLOADS
                .iter()
                .map(|&words| measure(transport, words))
                .collect()
        };
        println!(
            "| {} | {:.2?} | {:.2?} | {:.2}x |",
            transport.label,
            latencies[0],
            latencies[1],
            latencies[0].as_secs_f64() / floor.as_secs_f64()
        );
    }
    if let Some(row) = iceoryx2_row(floor) {
        println!("{row}");
    }
    println!();
    println!(
        "| SeqLock latency target (interleaved in this run) | vs the minimal seqlock | target | minimal / atomic floor |"
    );
    println!("|---|---|---|---|");
    let contenders = [
        ("`write`", "seqlock", 2, SEQLOCK_TARGETS),
        (
            "`write_as`, writer role",
            "seqlock-role",
            3,
            SEQLOCK_ROLE_TARGETS,
        ),
    ];
    for (label, target, index, limits) in contenders {
        for ((payload, times), limit) in ["64 B", "4 KiB"].iter().zip(&interleaved).zip(limits) {
            let ratio = times[index].as_secs_f64() / times[1].as_secs_f64();
            println!(
                "| {label}, {payload} | {ratio:.2}x | at most {limit:.2}x | {:.2}x |",
                times[1].as_secs_f64() / times[0].as_secs_f64()
            );
            targets.push((
                format!("{target}-latency-{}", payload.replace(' ', "")),
                ratio,
                limit,
            ));
        }
    }
    for (name, ratio, limit) in targets {
        println!("target {name} {ratio:.4} at-most {limit}");
    }
}

/// The iceoryx2 contender's row: `cargo xtask bench` builds it apart (benches/peers/iceoryx2,
/// so that the crate's own builds do not compile iceoryx2) and names it in `WSM_BENCH_ICEORYX2`.
fn iceoryx2_row(floor: Duration) -> Option<String> {
    let program = std::env::var_os("WSM_BENCH_ICEORYX2")?;
    let output = Command::new(program)
        .output()
        .expect("run the iceoryx2 contender");
    assert!(
        output.status.success(),
        "the iceoryx2 contender failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let nanos: Vec<u64> = text
        .split_whitespace()
        .map(|number| number.parse().expect("nanoseconds"))
        .collect();
    let [small, large] = nanos[..] else {
        panic!("the iceoryx2 contender printed {text:?}")
    };
    let (small, large) = (Duration::from_nanos(small), Duration::from_nanos(large));
    Some(format!(
        "| iceoryx2 0.10 publish-subscribe | {small:.2?} | {large:.2?} | {:.2}x |",
        small.as_secs_f64() / floor.as_secs_f64()
    ))
}

/// Half the median round trip through each of `transports` with a payload of `words` words,
/// batch by batch in turn, so that a noisy moment hurts them all alike.
fn measure_interleaved(transports: &[Transport], words: usize) -> Vec<Duration> {
    let mut pingers: Vec<Pinger> = transports
        .iter()
        .map(|transport| {
            let pinger = Pinger::new(transport, words);
            pinger.pause();
            pinger
        })
        .collect();
    // One round counter for all contenders: each answerer sees only rounds it has not seen.
    let mut round = 0;
    let mut batches = vec![Vec::new(); pingers.len()];
    for batch in 0..INTERLEAVED_BATCHES {
        // Each batch starts with the next contender, so that none always follows the same one.
        let mut turns: Vec<_> = pingers.iter_mut().zip(&mut batches).collect();
        turns.rotate_left(batch % transports.len());
        for (pinger, batches) in turns {
            pinger.resume();
            pinger.run(&mut round, INTERLEAVED_ROUNDS / 10);
            let start = Instant::now();
            pinger.run(&mut round, INTERLEAVED_ROUNDS);
            batches.push(start.elapsed() / (2 * INTERLEAVED_ROUNDS as u32));
            pinger.pause();
        }
    }
    pingers.into_iter().for_each(|pinger| {
        pinger.resume();
        pinger.finish();
    });
    batches
        .into_iter()
        .map(|mut batches| {
            batches.sort();
            batches[INTERLEAVED_BATCHES / 2]
        })
        .collect()
}

/// Half the median round trip through `transport` with a payload of `words` words.
fn measure(transport: &Transport, words: usize) -> Duration {
    let mut pinger = Pinger::new(transport, words);
    let mut round = 0;
    let mut batches: Vec<Duration> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            pinger.run(&mut round, ROUNDS);
            start.elapsed() / (2 * ROUNDS as u32)
        })
        .collect();
    pinger.finish();
    batches.sort();
    batches[BATCHES / 2]
}

/// The measuring side of one transport, with its answering process.
struct Pinger {
    answerer: Child,
    rounds: Box<dyn RoundTrip>,
}

impl Pinger {
    fn new(transport: &Transport, words: usize) -> Self {
        let name = format!(
            "Local\\wsm_ipc_{}_{}_{words}",
            std::process::id(),
            transport.role
        );
        let start_answerer = || start_role(transport.role, &[&name, &words.to_string()]);
        let Publisher { answerer, rounds } = (transport.publish)(&name, words, &start_answerer);
        Self { answerer, rounds }
    }

    /// The next `count` rounds after `round`, which it advances.
    fn run(&mut self, round: &mut u64, count: u64) {
        let first = *round + 1;
        *round += count;
        self.rounds.run(first..*round + 1);
    }

    /// Stops the answering process while other contenders are measured, so that its spinning
    /// does not take the core theirs need.
    fn pause(&self) {
        pause(&self.answerer);
    }

    fn resume(&self) {
        resume(&self.answerer);
    }

    /// Ends the answering process, then drops the measuring side (the creator's handles).
    fn finish(mut self) {
        drop(self.answerer.stdin.take());
        let _ = self.answerer.kill();
        let _ = self.answerer.wait();
    }
}
