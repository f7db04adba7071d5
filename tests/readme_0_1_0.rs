//! The code blocks of the 0.1.0 README, unchanged: code written against 0.1.0 must compile and
//! behave as that README says, except for the one documented change (README, "Migrating from
//! 0.1"): errors name their region, so the crate returns `Open`, `NameTaken`... where 0.1.0
//! returned `OpenMapping`, `AlreadyExists`..., whose shapes had no room for a name. A `match`
//! on 0.1.0's variants still compiles, with a deprecation warning that says so.
//!
//! The blocks are kept as 0.1.0 wrote them, so their `unsafe` blocks have no SAFETY comments:
//! within this one test nothing else touches the region.

#![expect(
    clippy::undocumented_unsafe_blocks,
    reason = "the 0.1.0 README's blocks, kept as written"
)]

use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryError, SharedMemoryLink};

#[repr(C)]
struct GameState {
    score: u32,
    lives: u8,
}

#[test]
fn the_0_1_0_readme_examples_compile_and_behave() {
    // "Creating a region (writer process)"
    // Create a fresh, zero-initialised region. Fails if the name is already taken.
    let mut link: SharedMemoryLink<GameState, ReadWrite> =
        SharedMemoryLink::create("Local\\my_game_state").expect("failed to create shared memory");

    unsafe {
        let state = link.get_mut();
        state.score = 42;
        state.lives = 3;
    }

    // "Use `get_or_create` instead if you want to open the region when it already exists"
    let mut second: SharedMemoryLink<GameState, ReadWrite> =
        SharedMemoryLink::get_or_create("Local\\my_game_state").unwrap();
    assert_eq!(unsafe { second.get_mut() }.score, 42);

    // "Opening a region (reader process)"
    let reader: SharedMemoryLink<GameState, ReadOnly> =
        SharedMemoryLink::open("Local\\my_game_state").expect("game not running");

    let state = unsafe { reader.get() };
    println!("score: {}, lives: {}", state.score, state.lives);
    assert_eq!((state.score, state.lives), (42, 3));

    // "Opening an existing region for read-write"
    let mut link2: SharedMemoryLink<GameState, ReadWrite> =
        SharedMemoryLink::open_existing("Local\\my_game_state").expect("region not found");

    unsafe {
        link2.get_mut().score += 1;
    }
    assert_eq!(unsafe { reader.get() }.score, 43);

    // "Error handling": `create` on a taken name.
    let taken = SharedMemoryLink::<GameState, ReadWrite>::create("Local\\my_game_state");
    assert!(matches!(taken, Err(SharedMemoryError::NameTaken { .. })));
    assert_eq!(matches_0_1_0(taken.err().unwrap()), None);
    drop((link, second, reader, link2));
    let missing = SharedMemoryLink::<GameState, ReadOnly>::open("Local\\my_game_state");
    assert!(matches!(missing, Err(SharedMemoryError::Open { .. })));
}

/// A `match` on the variants of the 0.1.0 README's table, as 0.1.0 code wrote it: it still
/// compiles (the deprecation warning is what such code sees), and its arms no longer match
/// what the crate returns.
#[allow(deprecated, reason = "0.1.0's variants, as 0.1.0 code names them")]
fn matches_0_1_0(error: SharedMemoryError) -> Option<&'static str> {
    match error {
        SharedMemoryError::OpenMapping(_) => Some("OpenMapping"),
        SharedMemoryError::CreateMapping(_) => Some("CreateMapping"),
        SharedMemoryError::MapView(_) => Some("MapView"),
        SharedMemoryError::AlreadyExists => Some("AlreadyExists"),
        SharedMemoryError::SizeTooLarge => Some("SizeTooLarge"),
        _ => None,
    }
}
