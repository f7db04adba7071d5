//! Interop with a program that uses plain Win32 calls, as games and their plugins do: the C
//! peers in tests/c, built by `cargo xtask test`.

use std::process::Command;

use libtest_mimic::Failed;
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

use crate::harness::{Outcome, Peer, check_pattern, expect_eq, fill_pattern, unique_name};
use crate::sync::{PUBLISHER_UPDATES, check_versioned_copies};

tests! {
    a_region_made_by_plain_win32_is_read_by_the_crate ignored_if no_c_peers(),
    versioned_copies_of_a_c_publisher_are_consistent ignored_if no_c_peers(),
    a_region_made_by_the_crate_is_read_by_plain_win32 ignored_if no_c_peers(),
}

/// Whether the C peers are missing: on a Windows host without a C compiler, `cargo xtask test`
/// says so and leaves `WSM_C_PEER_DIR` unset, and these tests are reported ignored. Under Wine
/// it always builds them and sets it.
fn no_c_peers() -> bool {
    std::env::var_os("WSM_C_PEER_DIR").is_none()
}

roles! {}

const SIZE: usize = 65536;

fn peer(args: &[&str]) -> Result<Command, Failed> {
    c_program("win32_peer", args)
}

/// One of the C programs `cargo xtask test` builds from tests/c.
fn c_program(program: &str, args: &[&str]) -> Result<Command, Failed> {
    let dir = std::env::var("WSM_C_PEER_DIR")
        .map_err(|_| "WSM_C_PEER_DIR is not set: run the tests with `cargo xtask test`")?;
    let mut command = Command::new(format!("{dir}\\{program}.exe"));
    command.args(args);
    Ok(command)
}

fn versioned_copies_of_a_c_publisher_are_consistent() -> Outcome {
    let name = unique_name("versioned_c");
    let publisher = c_program("versioned_publisher", &[&name, PUBLISHER_UPDATES])?;
    check_versioned_copies(&name, Peer::spawn(publisher)?)
}

fn a_region_made_by_plain_win32_is_read_by_the_crate() -> Outcome {
    let name = unique_name("from_c");
    let mut creator = Peer::spawn(peer(&["create", &name, &SIZE.to_string(), "17"])?)?;
    creator.expect_line("ready")?;
    let reader = SharedMemoryLink::<[u8; SIZE], ReadOnly>::open(&name)?;
    // SAFETY: the C program writes nothing until it is told to.
    check_pattern(unsafe { reader.get() }, 17)?;
    let mut writer = SharedMemoryLink::<[u8; SIZE], ReadWrite>::open_existing(&name)?;
    // SAFETY: as above.
    fill_pattern(unsafe { writer.get_mut() }, 18);
    creator.send("verify-bumped")?;
    creator.finish()
}

fn a_region_made_by_the_crate_is_read_by_plain_win32() -> Outcome {
    let name = unique_name("to_c");
    let mut link = SharedMemoryLink::<[u8; SIZE], ReadWrite>::create(&name)?;
    // SAFETY: no other process touches the region yet.
    fill_pattern(unsafe { link.get_mut() }, 23);
    let status = peer(&["read", &name, &SIZE.to_string(), "23"])?.status()?;
    expect_eq(status.code(), Some(0))?;
    drop(link);
    // Gone with its last handle: the C program's OpenFileMappingW finds nothing (exit 4).
    let status = peer(&["read", &name, &SIZE.to_string(), "23"])?.status()?;
    expect_eq(status.code(), Some(4))
}
