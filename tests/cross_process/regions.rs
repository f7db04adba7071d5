//! Making, finding and reading regions across processes: creates, opens and their errors, sizes
//! and views, typed and runtime-sized regions.

use std::io::Write;

use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

use crate::harness::{
    GameState, Mib, Outcome, RoleResult, check_pattern, expect_eq, fill_pattern, kind, print_kind,
    publish, run_child, spawn_child, unique_name,
};

tests! {
    read_only_open_sees_the_creators_data,
    open_existing_writes_are_seen_by_the_creator,
    a_runtime_sized_region_crosses_processes,
    views_outside_a_region_are_refused,
    plain_data_is_copied_safely_across_processes,
    racing_creates_make_exactly_one_region,
    create_on_a_taken_name_is_already_exists,
    get_or_create_opens_the_existing_region_with_its_contents,
    opening_a_missing_name_is_open_mapping,
    a_1_mib_region_crosses_processes_intact,
    a_zero_sized_type_gets_a_region,
    a_region_smaller_than_the_type_is_refused_with_both_sizes,
    bad_names_and_alignments_are_refused,
    create_after_already_exists_still_creates,
    #[cfg(target_pointer_width = "64")]
    a_region_above_4_gib_crosses_processes,
}

roles! {
    "read-game-state" => read_game_state,
    "bump-score" => bump_score,
    "create-game-state" => create_game_state,
    "read-runtime-sized" => read_runtime_sized,
    "read-plain" => read_plain,
    "race-create" => race_create,
    "get-or-create" => get_or_create,
    "open" => open,
    "open-existing" => open_existing,
    "open-zst" => open_zst,
    "open-large" => open_large,
    "get-or-create-large" => get_or_create_large,
    "verify-and-bump" => verify_and_bump,
    #[cfg(target_pointer_width = "64")]
    "read-huge" => read_huge,
}

/// A runtime size that is not a whole number of pages.
const RUNTIME_LEN: usize = 10_000;

/// A region above 4 GiB: 0.1.0 refused these, so the high half of the size must reach the OS.
#[cfg(target_pointer_width = "64")]
const ABOVE_4_GIB: usize = (1 << 32) + 4096;

/// Where the big-region test writes and reads, the last ones beyond 4 GiB.
#[cfg(target_pointer_width = "64")]
const HUGE_PROBES: [usize; 4] = [0, 4095, 1 << 32, ABOVE_4_GIB - 1];

/// Bigger than any page, so the size check must refuse it under Wine's page rounding too.
type Large = [u8; 3 * 65536];

// ---------------------------------------------------------------------------------------------
// The tests.

fn read_only_open_sees_the_creators_data() -> Outcome {
    let (name, _link) = publish("read_only", 42, 3)?;
    expect_eq(run_child("read-game-state", &[&name])?, "score=42 lives=3")
}

fn open_existing_writes_are_seen_by_the_creator() -> Outcome {
    let name = unique_name("open_existing");
    let link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    run_child("bump-score", &[&name])?;
    run_child("bump-score", &[&name])?;
    // SAFETY: the children have exited.
    expect_eq(unsafe { link.get() }.score, 2)
}

fn create_on_a_taken_name_is_already_exists() -> Outcome {
    let (name, link) = publish("taken", 7, 0)?;
    expect_eq(run_child("create-game-state", &[&name])?, "AlreadyExists")?;
    // The failed create must neither reset the region nor take it away.
    // SAFETY: the child has exited.
    expect_eq(unsafe { *link.get() }, GameState { score: 7, lives: 0 })?;
    expect_eq(run_child("read-game-state", &[&name])?, "score=7 lives=0")
}

/// A region of a size chosen at run time (not a whole number of pages): the opener discovers
/// the size, sees the creator's bytes, and tells a created region from a found one.
fn a_runtime_sized_region_crosses_processes() -> Outcome {
    let name = unique_name("runtime_sized");
    let mut region = SharedMemory::<ReadWrite>::get_or_create(&name, RUNTIME_LEN)?;
    expect_eq(region.created(), true)?;
    region.write_at(0, &0xDEAD_BEEF_u32)?;
    region.write_at(RUNTIME_LEN - 2, &0x0102_u16)?;
    let answer = run_child("read-runtime-sized", &[&name])?;
    let (len, rest) = answer.split_once(' ').ok_or("no length in the answer")?;
    let len: usize = len.parse()?;
    // Exact on Windows and Unix; Wine reports the size rounded up to a page.
    let exact_or_wine_page = [RUNTIME_LEN, RUNTIME_LEN.next_multiple_of(4096)];
    if !exact_or_wine_page.contains(&len) || (cfg!(unix) && len != RUNTIME_LEN) {
        return Err(format!("the opener saw {len} bytes, not {RUNTIME_LEN}").into());
    }
    expect_eq(rest, "created=false first=deadbeef last=102")?;
    expect_eq(region.read_at::<u8>(1)?, 0xEE)
}

/// Views that do not fit are errors that say why, never a read past the end.
fn views_outside_a_region_are_refused() -> Outcome {
    let name = unique_name("views");
    let mut region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    let out_of_bounds = |result: Result<(), SharedMemoryError>| match result {
        Err(SharedMemoryError::OutOfBounds { region_len: 64, .. }) => Ok(()),
        other => Err(format!("expected OutOfBounds, got {other:?}")),
    };
    out_of_bounds(region.read_at::<u64>(57).map(drop))?;
    out_of_bounds(region.write_at(usize::MAX, &1_u8))?;
    // SAFETY: the views are refused before anything is read.
    out_of_bounds(unsafe { region.get_slice::<u32>(0, 17) }.map(drop))?;
    // SAFETY: as above, refused before anything is read.
    out_of_bounds(unsafe { region.get_slice::<u64>(0, usize::MAX / 4) }.map(drop))?;
    // SAFETY: the view is refused before anything is read.
    match unsafe { region.get_at::<u32>(2) } {
        Err(SharedMemoryError::Misaligned {
            offset: 2,
            align: 4,
            ..
        }) => {}
        other => return Err(format!("expected Misaligned, got {other:?}").into()),
    }
    // The last fitting view is fine.
    // SAFETY: nothing else touches the region.
    expect_eq(unsafe { region.get_slice::<u32>(60, 1) }?, &[0][..])?;

    let empty = SharedMemory::<ReadWrite>::create(unique_name("empty"), 0);
    expect_eq(
        matches!(empty, Err(SharedMemoryError::EmptyRegion { .. })),
        true,
    )?;
    let huge = SharedMemory::<ReadWrite>::create(unique_name("huge_len"), usize::MAX);
    expect_eq(
        matches!(huge, Err(SharedMemoryError::TooLarge { .. })),
        true,
    )?;
    // A whole page, so that Wine, which reports sizes rounded up to a page, sees it short too.
    let page = unique_name("page");
    let _page = SharedMemory::<ReadWrite>::create(&page, 4096)?;
    let short = SharedMemory::<ReadWrite>::get_or_create(&page, 4097);
    expect_eq(
        matches!(
            short,
            Err(SharedMemoryError::SizeMismatch {
                required: 4097,
                actual: 4096,
                ..
            })
        ),
        true,
    )
}

/// The safe plain-data copies, between processes, through a typed link and its read-only
/// downgrade.
fn plain_data_is_copied_safely_across_processes() -> Outcome {
    let name = unique_name("plain");
    let mut link = SharedMemoryLink::<[u32; 4], ReadWrite>::create(&name)?;
    link.write(&[1, 2, 3, 4]);
    expect_eq(run_child("read-plain", &[&name])?, "[1, 2, 3, 4]")?;
    let reader = link.downgrade();
    expect_eq(reader.read(), [1, 2, 3, 5])
}

/// Processes that create one name at the same moment: one makes the region, the others are
/// told it exists, and no one is left with a region that lost its name.
fn racing_creates_make_exactly_one_region() -> Outcome {
    const RACERS: usize = 4;
    for round in 0..10 {
        let name = unique_name(&format!("race_{round}"));
        let mut racers = (0..RACERS)
            .map(|_| spawn_child("race-create", &[&name]))
            .collect::<Result<Vec<_>, _>>()?;
        for racer in &mut racers {
            racer.expect_line("ready")?;
        }
        for racer in &mut racers {
            racer.send("go")?;
        }
        let mut answers = Vec::new();
        for racer in &mut racers {
            answers.push(racer.read_line()?);
        }
        answers.sort();
        let mut expected = vec!["AlreadyExists".to_owned(); RACERS - 1];
        expected.push("created".to_owned());
        expect_eq(&answers, &expected)?;
        // The winner's region is the one the name finds.
        expect_eq(run_child("read-game-state", &[&name])?, "score=1 lives=0")?;
        for racer in racers {
            racer.finish()?;
        }
    }
    Ok(())
}

fn get_or_create_opens_the_existing_region_with_its_contents() -> Outcome {
    let (name, link) = publish("get_or_create", 11, 2)?;
    expect_eq(run_child("get-or-create", &[&name])?, "score=11 lives=2")?;
    // SAFETY: the child has exited.
    expect_eq(unsafe { link.get() }.lives, 9)
}

fn opening_a_missing_name_is_open_mapping() -> Outcome {
    let name = unique_name("missing");
    expect_eq(run_child("open", &[&name])?, "OpenMapping not-found")?;
    expect_eq(
        run_child("open-existing", &[&name])?,
        "OpenMapping not-found",
    )
}

fn a_1_mib_region_crosses_processes_intact() -> Outcome {
    let name = unique_name("mib");
    let mut link = SharedMemoryLink::<Mib, ReadWrite>::create(&name)?;
    // SAFETY: no other process touches the region yet.
    fill_pattern(unsafe { link.get_mut() }, 5);
    expect_eq(run_child("verify-and-bump", &[&name, "5"])?, "ok")?;
    // SAFETY: the child has exited.
    check_pattern(unsafe { link.get() }, 6)
}

#[cfg(target_pointer_width = "64")]
fn a_region_above_4_gib_crosses_processes() -> Outcome {
    let name = unique_name("huge");
    let mut link = SharedMemoryLink::<[u8; ABOVE_4_GIB], ReadWrite>::create(&name)?;
    for (i, &offset) in HUGE_PROBES.iter().enumerate() {
        // SAFETY: no other process touches the region yet.
        unsafe { link.get_mut()[offset] = i as u8 + 1 };
    }
    expect_eq(run_child("read-huge", &[&name])?, "1 2 3 4")
}

fn a_zero_sized_type_gets_a_region() -> Outcome {
    let name = unique_name("zst");
    let link = SharedMemoryLink::<(), ReadWrite>::create(&name)?;
    expect_eq(format!("{link:?}").contains("size: 1"), true)?;
    expect_eq(run_child("open-zst", &[&name])?, "opened")
}

fn a_region_smaller_than_the_type_is_refused_with_both_sizes() -> Outcome {
    let name = unique_name("small");
    let _link = SharedMemoryLink::<[u8; 4096], ReadWrite>::create(&name)?;
    let expected = format!("SizeMismatch required={} actual=4096", size_of::<Large>());
    expect_eq(run_child("open-large", &[&name])?, expected.as_str())?;
    expect_eq(
        run_child("get-or-create-large", &[&name])?,
        expected.as_str(),
    )?;
    let error = SharedMemoryLink::<Large, ReadOnly>::open(&name)
        .unwrap_err()
        .to_string();
    expect_eq(
        error.contains(&name) && error.contains("196608") && error.contains("4096"),
        true,
    )
}

fn bad_names_and_alignments_are_refused() -> Outcome {
    for name in ["", "Local\\game\0state", "Local\\", "Local\\a\\b"] {
        let result = SharedMemoryLink::<GameState, ReadWrite>::create(name);
        expect_eq(kind(result), "InvalidName")?;
        expect_eq(
            kind(SharedMemoryLink::<GameState, ReadOnly>::open(name)),
            "InvalidName",
        )?;
    }
    // The NUL name must not have created the region its prefix names, as 0.1.0 did.
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open("Local\\game")),
        "OpenMapping not-found",
    )?;

    #[repr(C, align(8192))]
    struct OverAligned(u8);
    let result = SharedMemoryLink::<OverAligned, ReadWrite>::create(unique_name("aligned"));
    expect_eq(kind(result), "Alignment 8192")
}

fn create_after_already_exists_still_creates() -> Outcome {
    // A failed create leaves ERROR_ALREADY_EXISTS as the thread's last error on Windows; the
    // next create in the same thread must not mistake it for its own. A regression guard:
    // Wine's CreateFileMappingW sets the last error on success too, so only a Windows whose
    // call leaves it alone could show the bug.
    let taken = unique_name("last_error_taken");
    let _link = SharedMemoryLink::<u32, ReadWrite>::create(&taken)?;
    expect_eq(
        kind(SharedMemoryLink::<u32, ReadWrite>::create(&taken)),
        "AlreadyExists",
    )?;
    SharedMemoryLink::<u32, ReadWrite>::create(unique_name("last_error_fresh"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The child roles.

fn read_game_state(name: &str, _: &[String]) -> RoleResult {
    let link = SharedMemoryLink::<GameState, ReadOnly>::open(name)?;
    // SAFETY: the parent does not write while the child reads.
    let state = unsafe { *link.get() };
    println!("score={} lives={}", state.score, state.lives);
    Ok(())
}

fn bump_score(name: &str, _: &[String]) -> RoleResult {
    let mut link = SharedMemoryLink::<GameState, ReadWrite>::open_existing(name)?;
    // SAFETY: the parent does not touch the region while the child runs.
    unsafe { link.get_mut().score += 1 };
    Ok(())
}

fn create_game_state(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<GameState, ReadWrite>::create(name))
}

fn read_runtime_sized(name: &str, _: &[String]) -> RoleResult {
    let mut region = SharedMemory::<ReadWrite>::get_or_create(name, 1)?;
    let first = region.read_at::<u32>(0)?;
    let last = region.read_at::<u16>(RUNTIME_LEN - 2)?;
    region.write_at(1, &0xEE_u8)?;
    println!(
        "{} created={} first={first:x} last={last:x}",
        region.len(),
        region.created()
    );
    Ok(())
}

fn read_plain(name: &str, _: &[String]) -> RoleResult {
    let reader = SharedMemoryLink::<[u32; 4], ReadOnly>::open(name)?;
    println!("{:?}", reader.read());
    let mut writer = SharedMemoryLink::<[u32; 4], ReadWrite>::open_existing(name)?;
    writer.write(&[1, 2, 3, 5]);
    Ok(())
}

fn race_create(name: &str, _: &[String]) -> RoleResult {
    println!("ready");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    let created = SharedMemoryLink::<GameState, ReadWrite>::create(name);
    let _held = match created {
        Ok(mut link) => {
            // SAFETY: only the winner writes, before anyone reads.
            unsafe { link.get_mut().score = 1 };
            println!("created");
            Some(link)
        }
        Err(error) => {
            println!("{}", kind::<()>(Err(error)));
            None
        }
    };
    std::io::stdout().flush()?;
    // Hold the region until the pipe closes.
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}

fn get_or_create(name: &str, _: &[String]) -> RoleResult {
    let mut link = SharedMemoryLink::<GameState, ReadWrite>::get_or_create(name)?;
    // SAFETY: the parent does not touch the region while the child runs.
    let state = unsafe { link.get_mut() };
    println!("score={} lives={}", state.score, state.lives);
    state.lives = 9;
    Ok(())
}

fn open(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<GameState, ReadOnly>::open(name))
}

fn open_existing(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<GameState, ReadWrite>::open_existing(
        name,
    ))
}

fn open_zst(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<(), ReadOnly>::open(name))
}

fn open_large(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<Large, ReadOnly>::open(name))
}

fn get_or_create_large(name: &str, _: &[String]) -> RoleResult {
    print_kind(SharedMemoryLink::<Large, ReadWrite>::get_or_create(name))
}

fn verify_and_bump(name: &str, args: &[String]) -> RoleResult {
    let seed: u8 = args[1].parse()?;
    let mut link = SharedMemoryLink::<Mib, ReadWrite>::open_existing(name)?;
    // SAFETY: the parent does not touch the region while the child runs.
    let bytes = unsafe { link.get_mut() };
    check_pattern(bytes, seed).map_err(|failed| format!("{failed:?}"))?;
    fill_pattern(bytes, seed.wrapping_add(1));
    println!("ok");
    Ok(())
}

#[cfg(target_pointer_width = "64")]
fn read_huge(name: &str, _: &[String]) -> RoleResult {
    let link = SharedMemoryLink::<[u8; ABOVE_4_GIB], ReadOnly>::open(name)?;
    // SAFETY: the parent does not write while the child reads.
    let bytes = unsafe { link.get() };
    let probes: Vec<String> = HUGE_PROBES
        .iter()
        .map(|&at| bytes[at].to_string())
        .collect();
    println!("{}", probes.join(" "));
    Ok(())
}
