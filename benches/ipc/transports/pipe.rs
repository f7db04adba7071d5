//! The answering process's standard input and output: the payload down one pipe, back up the
//! other.

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout};

use win_shared_memory::zerocopy::IntoBytes;

use super::{Publisher, RoundTrip, Transport};
use crate::processes::say_ready;

pub const TRANSPORT: Transport = Transport {
    role: "pipe",
    label: "pipe",
    publish,
    answer,
};

struct PipeRounds {
    to_answerer: ChildStdin,
    from_answerer: ChildStdout,
    payload: Vec<u64>,
}

fn publish(_name: &str, words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher {
    let mut answerer = start_answerer();
    // The round trip owns the pipes; dropping it closes the answerer's input, which ends it.
    let rounds = PipeRounds {
        to_answerer: answerer.stdin.take().expect("piped"),
        from_answerer: answerer.stdout.take().expect("piped"),
        payload: vec![0; words],
    };
    Publisher {
        answerer,
        rounds: Box::new(rounds),
    }
}

impl RoundTrip for PipeRounds {
    fn round_trip(&mut self, round: u64) {
        self.payload[0] = round;
        let bytes = self.payload.as_slice().as_bytes();
        self.to_answerer.write_all(bytes).expect("write");
        let mut back = vec![0_u8; bytes.len()];
        self.from_answerer.read_exact(&mut back).expect("read");
        black_box(&back);
    }
}

/// Echoes every payload from standard input to standard output until the input ends.
fn answer(_name: &str, words: usize) {
    say_ready();
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout();
    let mut buffer = vec![0_u8; 8 * words];
    while stdin.read_exact(&mut buffer).is_ok() {
        stdout
            .write_all(&buffer)
            .and_then(|()| stdout.flush())
            .expect("write");
    }
}
