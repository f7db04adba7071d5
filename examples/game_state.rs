//! Two processes sharing the README's `GameState`: this program is the writer; it creates the
//! region, publishes a state, and starts itself again as the reader, which opens the region
//! read-only and prints what it sees.
//!
//! Run it with `cargo run --example game_state`.

use std::process::Command;

use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

#[repr(C)]
struct GameState {
    score: u32,
    lives: u8,
}

const NAME: &str = "Local\\my_game_state";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("reader") => reader(),
        _ => writer(),
    }
}

fn writer() -> Result<(), Box<dyn std::error::Error>> {
    // Fails with AlreadyExists if another writer runs.
    let mut link: SharedMemoryLink<GameState, ReadWrite> = SharedMemoryLink::create(NAME)?;
    // SAFETY: the reader is not started yet, so nobody else touches the region.
    unsafe {
        let state = link.get_mut();
        state.score = 42;
        state.lives = 3;
    }
    println!("writer: published score 42, lives 3 in {NAME}");

    // The region lives while `link` does, so the reader finds it.
    let status = Command::new(std::env::current_exe()?)
        .arg("reader")
        .status()?;
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }
    Ok(())
}

fn reader() -> Result<(), Box<dyn std::error::Error>> {
    let link: SharedMemoryLink<GameState, ReadOnly> = SharedMemoryLink::open(NAME)?;
    // SAFETY: the writer does not write while the reader runs.
    let state = unsafe { link.get() };
    println!("reader: score: {}, lives: {}", state.score, state.lives);
    Ok(())
}
