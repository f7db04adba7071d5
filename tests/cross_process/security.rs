//! Who may use a region: owner-only by default on Linux, modes and owner checks against other
//! users (as root, dropping to `nobody`), and options an OS cannot honour.

use win_shared_memory::{Options, ReadWrite, SharedMemory, SharedMemoryError};
#[cfg(any(windows, target_os = "linux"))]
use win_shared_memory::{ReadOnly, SharedMemoryLink};

#[cfg(any(windows, target_os = "linux"))]
use crate::harness::{GameState, run_child};
#[cfg(target_os = "linux")]
use crate::harness::{NOBODY, Peer, child_command, kind, run_child_as_nobody};
use crate::harness::{Outcome, expect_eq, unique_name};

// Dropping to another user needs root, as CI is; elsewhere these say they were ignored.
tests! {
    options_an_os_cannot_honour_are_refused,
    #[cfg(target_os = "linux")]
    regions_are_created_owner_only,
    #[cfg(target_os = "linux")]
    another_user_is_refused_an_owner_only_region ignored_if not_root(),
    #[cfg(target_os = "linux")]
    a_widened_mode_lets_other_users_in ignored_if not_root(),
    #[cfg(target_os = "linux")]
    the_owner_check_refuses_a_region_another_user_made ignored_if not_root(),
}

roles! {}

/// Whether this process lacks the root rights the other-user tests need.
#[cfg(target_os = "linux")]
fn not_root() -> bool {
    // SAFETY: geteuid only reads the process's credentials.
    unsafe { libc::geteuid() != 0 }
}

/// Options no OS can honour, or this one cannot, are refused with an error that says why.
fn options_an_os_cannot_honour_are_refused() -> Outcome {
    let name = unique_name("options");
    let bad_mode = SharedMemory::<ReadWrite>::create_with(&name, 8, &Options::new().mode(0o4755));
    expect_eq(
        matches!(bad_mode, Err(SharedMemoryError::InvalidOptions { .. })),
        true,
    )?;
    #[cfg(windows)]
    {
        let owner_check =
            SharedMemory::<ReadOnly>::open_with(&name, &Options::new().require_owner(true));
        expect_eq(
            matches!(owner_check, Err(SharedMemoryError::InvalidOptions { .. })),
            true,
        )?;
        let not_sddl = Options::new().security_descriptor("not SDDL");
        let refused = SharedMemory::<ReadWrite>::create_with(&name, 8, &not_sddl);
        expect_eq(
            matches!(refused, Err(SharedMemoryError::SecurityDescriptor { .. })),
            true,
        )?;
        // A valid descriptor is taken, and the region works across processes.
        let everyone = Options::new().security_descriptor("D:(A;;GA;;;WD)");
        let _link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&name, &everyone)?;
        expect_eq(run_child("read-game-state", &[&name])?, "score=0 lives=0")?;
        // An empty, protected DACL grants no one access, and Wine enforces it too.
        let no_one = Options::new().security_descriptor("D:P");
        let locked = unique_name("options_locked");
        let _locked = SharedMemoryLink::<GameState, ReadWrite>::create_with(&locked, &no_one)?;
        expect_eq(run_child("open", &[&locked])?, "OpenMapping denied")?;
        // A section whose security grants mapping but not querying its size, which 0.1.0
        // could open: opened all the same, its size measured through a view.
        let map_only = Options::new().security_descriptor("D:(A;;0x6;;;WD)");
        let narrow = unique_name("options_map_only");
        let mut link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&narrow, &map_only)?;
        // SAFETY: no other process touches the region yet.
        unsafe { link.get_mut().score = 5 };
        expect_eq(run_child("read-game-state", &[&narrow])?, "score=5 lives=0")?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn regions_are_created_owner_only() -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let name = unique_name("mode");
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    expect_eq(std::fs::metadata(file)?.permissions().mode() & 0o777, 0o600)
}

/// A process of another user (`nobody`) cannot open a region created owner-only.
#[cfg(target_os = "linux")]
fn another_user_is_refused_an_owner_only_region() -> Outcome {
    let name = unique_name("other_user");
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    expect_eq(run_child_as_nobody("open", &[&name])?, "OpenMapping denied")?;
    // The owner still can.
    expect_eq(run_child("open", &[&name])?, "opened")
}

/// A mode chosen in the options is given exactly (not cut by the umask) and lets other users
/// in as it says.
#[cfg(target_os = "linux")]
fn a_widened_mode_lets_other_users_in() -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let name = unique_name("widened");
    let options = Options::new().mode(0o644);
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&name, &options)?;
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    expect_eq(std::fs::metadata(file)?.permissions().mode() & 0o777, 0o644)?;
    expect_eq(run_child_as_nobody("open", &[&name])?, "opened")
}

/// A region that another user made first under the name (a squatter) is refused when the
/// options require one's own, and opened otherwise.
#[cfg(target_os = "linux")]
fn the_owner_check_refuses_a_region_another_user_made() -> Outcome {
    use std::os::unix::process::CommandExt;
    let name = unique_name("squatted");
    let mut command = child_command("hold", &[&name]);
    command.uid(NOBODY).gid(NOBODY);
    let mut squatter = Peer::spawn(command)?;
    squatter.expect_line("ready")?;
    let mine_only = Options::new().require_owner(true);
    match SharedMemoryLink::<GameState, ReadOnly>::open_with(&name, &mine_only) {
        Err(SharedMemoryError::ForeignOwner { owner: NOBODY, .. }) => {}
        other => return Err(format!("expected ForeignOwner, got {:?}", other.map(drop)).into()),
    }
    match SharedMemory::<ReadWrite>::get_or_create_with(&name, 8, &mine_only) {
        Err(SharedMemoryError::ForeignOwner { owner: NOBODY, .. }) => {}
        other => return Err(format!("expected ForeignOwner, got {:?}", other.map(drop)).into()),
    }
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open(&name)),
        "opened",
    )?;
    squatter.send("exit")?;
    squatter.finish()
}
