//! A Unix stream socket between the two processes (Unix only).

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Child;

use win_shared_memory::zerocopy::IntoBytes;

use super::{Publisher, RoundTrip, Transport};
use crate::processes::say_ready;

pub const TRANSPORT: Transport = Transport {
    role: "socket",
    label: "Unix socket",
    publish,
    answer,
};

struct SocketRounds {
    stream: UnixStream,
    payload: Vec<u64>,
}

fn publish(name: &str, words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher {
    let path = socket_path(name);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(path).expect("bind");
    // The answering process connects before it says it is ready.
    let answerer = start_answerer();
    let (stream, _) = listener.accept().expect("accept");
    Publisher {
        answerer,
        rounds: Box::new(SocketRounds {
            stream,
            payload: vec![0; words],
        }),
    }
}

impl RoundTrip for SocketRounds {
    fn round_trip(&mut self, round: u64) {
        self.payload[0] = round;
        let bytes = self.payload.as_slice().as_bytes();
        self.stream.write_all(bytes).expect("write");
        let mut back = vec![0_u8; bytes.len()];
        self.stream.read_exact(&mut back).expect("read");
        black_box(&back);
    }
}

/// Echoes every payload back through the socket until the measuring process closes it.
fn answer(name: &str, words: usize) {
    let mut stream = UnixStream::connect(socket_path(name)).expect("connect");
    say_ready();
    let mut buffer = vec![0_u8; 8 * words];
    while stream.read_exact(&mut buffer).is_ok() {
        stream.write_all(&buffer).expect("write");
    }
}

/// The socket's file: the transport's name, with the `Local\` prefix's backslash replaced.
fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(name.replace('\\', "_"))
}
