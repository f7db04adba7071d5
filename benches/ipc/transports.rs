//! The transports of the latency table, each in a file of its own in `transports/` behind one
//! interface, [`Transport`]: how the measuring process sets it up and starts the answering
//! process, one round trip, and the answering process's side.
//!
//! Adding a transport is its file (defining `pub const TRANSPORT: Transport`) and its name in
//! the [`transports!`] list below; the latency table, the role dispatch and the measuring take
//! it from there.

use std::ops::Range;
use std::process::Child;

/// One way of carrying a payload to another process and the answer back.
pub struct Transport {
    /// The role the answering process is started in (also part of the names the transport
    /// creates, so that contenders do not collide).
    pub role: &'static str,
    /// The transport's row in the latency table.
    pub label: &'static str,
    /// The measuring side: creates `name` (a region, events, a socket) for payloads of `words`
    /// 8-byte words, starts the answering process with `start_answerer` once the process can
    /// open it, and hands back that process with the round trip.
    pub publish: fn(name: &str, words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher,
    /// The answering process: opens what `publish` created under `name`, says it is ready
    /// (`processes::say_ready`), then answers every ping until it is killed or its input ends.
    pub answer: fn(name: &str, words: usize),
}

/// The measuring side of a transport, connected to its answering process.
pub struct Publisher {
    pub answerer: Child,
    pub rounds: Box<dyn RoundTrip>,
}

/// A transport's round trip, as the measuring process makes it.
pub trait RoundTrip {
    /// Sends round `round` (a payload whose first word is `round`) and waits for its answer.
    fn round_trip(&mut self, round: u64);

    /// The round trips of `rounds`, in a row. Each transport gets its own copy of this loop, so
    /// the one dynamic call is per batch, and the measured loop calls `round_trip` directly.
    fn run(&mut self, rounds: Range<u64>) {
        for round in rounds {
            self.round_trip(round);
        }
    }
}

/// Declares each transport's module and lists their `TRANSPORT`s in order, so that a new
/// transport needs only its name here (with the `#[cfg]` of the platforms it exists on).
macro_rules! transports {
    ($($(#[$attribute:meta])* $module:ident),* $(,)?) => {
        $($(#[$attribute])* mod $module;)*

        /// The transports, in the latency table's order.
        pub const ALL: &[Transport] = &[$($(#[$attribute])* $module::TRANSPORT),*];
    };
}

// The first four are measured interleaved, as the SeqLock targets compare them (see
// `latency::INTERLEAVED`); the others each on their own.
transports![
    atomic,
    minimal,
    seqlock,
    seqlock_role,
    mutex,
    event,
    pipe,
    #[cfg(unix)]
    socket,
];

// What several transports share, not transports themselves.
mod lock_pair;
mod slots;

/// Answers round trips in `role` until the measuring process goes away.
pub fn answer(role: &str, name: &str, words: usize) {
    let transport = ALL
        .iter()
        .find(|transport| transport.role == role)
        .unwrap_or_else(|| panic!("unknown role {role}"));
    (transport.answer)(name, words);
}
