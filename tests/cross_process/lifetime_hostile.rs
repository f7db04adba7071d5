//! Unix lifetime under unusual but real usage and names planted by others, for both Unix
//! backends (Linux's and the portable one): fork, a strict umask, symbolic links and FIFOs.
//! The processes run as root and as other users. Stale regions, which only the Linux backend
//! reclaims, are `stale_regions`'.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};

use crate::harness::{
    NOBODY, Outcome, RoleResult, child_command, expect_eq, expect_no_shm_object, spawn_child,
    unique_name,
};

tests! {
    a_forked_child_alone_dropping_leaves_the_parents_region,
    a_forked_child_dropping_with_other_holders_leaves_the_parents_lock,
    a_forked_child_dropping_the_writer_role_leaves_the_parents_role,
    #[cfg(wsm_holder_locks)]
    a_parent_dropping_before_its_forked_child_leaves_the_childs_region,
    #[cfg(wsm_holder_locks)]
    a_parent_out_of_descriptors_dropping_before_its_forked_child_leaves_the_childs_region,
    modes_are_exact_under_umask_0277,
    a_region_its_owner_may_not_write_is_removed_by_its_last_drop,
    a_symlink_under_the_name_is_never_followed,
    a_fifo_under_the_name_is_refused_at_once,
}

roles! {
    "hostile-fork-drop" => fork_drop,
    "hostile-fork-drop-role" => fork_drop_role,
    #[cfg(wsm_holder_locks)]
    "hostile-fork-parent-drops" => fork_parent_drops,
    "hostile-hold" => hold,
    "hostile-umask-create" => umask_create,
    "hostile-read-only-mode-drop" => read_only_mode_drop,
    "hostile-goc-write" => goc_write,
    "hostile-open" => open_read_only,
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn a_forked_child_alone_dropping_leaves_the_parents_region() -> Outcome {
    forked_child_drops(false)
}

fn a_forked_child_dropping_with_other_holders_leaves_the_parents_lock() -> Outcome {
    forked_child_drops(true)
}

/// A link inherited through `fork` and dropped in the child leaves the parent's region,
/// name and lock alone, whether the parent is the only other holder or not.
fn forked_child_drops(other_holder: bool) -> Outcome {
    let name = unique_name(if other_holder {
        "fork_shared"
    } else {
        "fork_alone"
    });
    let mut parent = spawn_child("hostile-fork-drop", &[&name])?;
    parent.expect_line("created")?;
    let mut other = None;
    if other_holder {
        let mut holder = spawn_child("hostile-hold", &[&name])?;
        holder.expect_line("held")?;
        other = Some(holder);
    }
    parent.send("fork")?;
    parent.expect_line("forked")?;
    if let Some(holder) = other {
        // The last other holder leaves: with the parent's lock intact it is not the last.
        holder.finish()?;
    }
    match SharedMemory::<ReadWrite>::create(&name, 8) {
        Err(SharedMemoryError::NameTaken { .. }) => {}
        other => {
            return Err(format!("the parent's name was lost: create gave {other:?}").into());
        }
    }
    let seen = SharedMemory::<ReadOnly>::open(&name)?.read_at::<u64>(0)?;
    expect_eq(seen, 0x1122_3344_5566_7788_u64)?;
    parent.finish()?;
    expect_no_shm_object(&name)?;
    Ok(())
}

/// A writer role inherited through `fork` and dropped in the child leaves the parent holding
/// it: readers still see a live writer, and another writer is still refused (the child's drop
/// must not unlock the lock that parent and child share through one open file description).
fn a_forked_child_dropping_the_writer_role_leaves_the_parents_role() -> Outcome {
    let name = unique_name("fork_role");
    let mut parent = spawn_child("hostile-fork-drop-role", &[&name])?;
    parent.expect_line("forked")?;
    let second = SharedMemory::<ReadWrite>::open_existing(&name)?;
    let outcome = expect_eq(
        (second.writer_alive()?, second.take_writer_role().is_err()),
        (true, true),
    );
    parent.finish()?;
    outcome
}

/// A parent that drops its link while a forked child still holds the inherited copy leaves
/// the region and its name to the child (Linux; the portable backend's creator owns the name):
/// the child's copy shares the parent's open file description, whose lock the parent must not
/// turn into a remover's.
#[cfg(wsm_holder_locks)]
fn a_parent_dropping_before_its_forked_child_leaves_the_childs_region() -> Outcome {
    parent_drops_before_its_child("fork_parent_drops", "")
}

/// The same with a parent that has no descriptor to spare when it drops (`EMFILE`), so it
/// cannot hold the region through a description of its own: it leaves the name to the child
/// (and the sweep), rather than taking the child's hold with the description they share.
#[cfg(wsm_holder_locks)]
fn a_parent_out_of_descriptors_dropping_before_its_forked_child_leaves_the_childs_region() -> Outcome
{
    parent_drops_before_its_child("fork_parent_emfile", "emfile")
}

#[cfg(wsm_holder_locks)]
fn parent_drops_before_its_child(tag: &str, how: &str) -> Outcome {
    let name = unique_name(tag);
    let mut parent = spawn_child("hostile-fork-parent-drops", &[&name, how])?;
    parent.expect_line("dropped")?;
    match SharedMemory::<ReadWrite>::create(&name, 8) {
        Err(SharedMemoryError::NameTaken { .. }) => {}
        other => {
            parent.finish()?;
            return Err(format!("the child's region lost its name: create gave {other:?}").into());
        }
    }
    let seen = SharedMemory::<ReadOnly>::open(&name)?.read_at::<u64>(0)?;
    parent.finish()?;
    expect_eq(seen, 0x1122_3344_5566_7788_u64)?;
    // The child exited without dropping: its region is stale, and a sweep removes it.
    win_shared_memory::reclaim_stale()?;
    expect_no_shm_object(&name)
}

/// The default mode and chosen ones are exact under umask 0277, and the creator (another
/// user than root, whom modes do not stop) can open its own region again.
fn modes_are_exact_under_umask_0277() -> Outcome {
    for mode in ["default", "600", "640"] {
        let name = unique_name(&format!("umask_{mode}"));
        let printed = run_as(NOBODY, "hostile-umask-create", &[&name, mode])?;
        let expected = if mode == "640" { 0o640 } else { 0o600 };
        expect_eq(printed, format!("mode={expected:o} reopened"))?;
    }
    Ok(())
}

/// A region created with a mode that denies its owner writing (0400) is still removed by its
/// creator's drop: the creator's descriptor was opened for writing before the mode applied.
/// Another user than root, whom modes do not stop.
fn a_region_its_owner_may_not_write_is_removed_by_its_last_drop() -> Outcome {
    let name = unique_name("mode_0400_drop");
    let printed = run_as(NOBODY, "hostile-read-only-mode-drop", &[&name]);
    let left = std::path::Path::new(&object_path(&name)).exists();
    let _ = std::fs::remove_file(object_path(&name));
    expect_eq(printed?, "dropped")?;
    expect_eq(left, false)
}

/// A symbolic link under the name, to a victim's private file, is refused (O_NOFOLLOW) and
/// the file stays as it was, even with the owner check on (the target is the victim's own).
fn a_symlink_under_the_name_is_never_followed() -> Outcome {
    let name = unique_name("symlink");
    let victim = format!("/tmp/wsm_victim_{}", std::process::id());
    std::fs::write(&victim, b"private contents")?;
    std::os::unix::fs::chown(&victim, Some(NOBODY), Some(NOBODY))?;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600))?;
    let link = object_path(&name);
    std::os::unix::fs::symlink(&victim, &link)?;
    let result = run_as(NOBODY, "hostile-goc-write", &[&name]);
    let unchanged = std::fs::read(&victim)?;
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&victim);
    expect_eq(unchanged.as_slice(), b"private contents".as_slice())?;
    let printed = result?;
    if !printed.starts_with("refused") || !printed.contains("symbolic link") {
        return Err(format!("expected a clear refusal, got {printed:?}").into());
    }
    Ok(())
}

/// A FIFO under the name makes opens fail at once, with an error saying what it is.
fn a_fifo_under_the_name_is_refused_at_once() -> Outcome {
    let name = unique_name("fifo");
    let path = std::ffi::CString::new(object_path(&name))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(path.as_ptr(), 0o666) } != 0 {
        return Err(format!("mkfifo: {}", std::io::Error::last_os_error()).into());
    }
    let result = run_with_timeout(
        child_command("hostile-open", &[&name]),
        Duration::from_secs(10),
    );
    let _ = std::fs::remove_file(object_path(&name));
    let printed = result?;
    if !printed.contains("not a regular file") {
        return Err(format!("expected a refusal of the FIFO, got {printed:?}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The child roles.

/// Creates the region, writes a value, then on a line forks a child that drops its copy of
/// the link and exits; holds the region until stdin closes.
fn fork_drop(name: &str, _: &[String]) -> RoleResult {
    let mut link = SharedMemory::<ReadWrite>::create(name, 8)?;
    link.write_at(0, &0x1122_3344_5566_7788_u64)?;
    println!("created");
    let mut lines = std::io::stdin().lock().lines();
    lines.next();
    drop_in_forked_child(&link)?;
    println!("forked");
    lines.for_each(drop);
    drop(link);
    Ok(())
}

/// Forks a child that drops its copy of `inherited` and leaves with _exit, and waits for it.
/// The caller is single-threaded.
fn drop_in_forked_child<T>(inherited: &T) -> std::io::Result<()> {
    // SAFETY: the callers are single-threaded child roles.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: the child's own copy of the value, dropped once: the child leaves with
            // _exit, never touching the original again nor running the parent's exit code.
            unsafe {
                drop(std::ptr::read(inherited));
                libc::_exit(0)
            }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waits for the child just forked, into a local.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Ok(())
        }
    }
}

/// Creates the region and takes its writer role, forks a child that drops its inherited copy
/// of the role and leaves, prints "forked" and holds the role until stdin closes.
fn fork_drop_role(name: &str, _: &[String]) -> RoleResult {
    let region = SharedMemory::<ReadWrite>::create(name, 8)?;
    let role = region.take_writer_role()?;
    drop_in_forked_child(&role)?;
    println!("forked");
    std::io::stdin().lock().lines().for_each(drop);
    drop(role);
    Ok(())
}

/// Creates the region, writes a value and forks a child that keeps the inherited link; drops
/// its own link (with every descriptor taken when `args[1]` is `emfile`), prints "dropped",
/// and ends the child when stdin closes.
#[cfg(wsm_holder_locks)]
fn fork_parent_drops(name: &str, args: &[String]) -> RoleResult {
    let mut link = SharedMemory::<ReadWrite>::create(name, 8)?;
    link.write_at(0, &0x1122_3344_5566_7788_u64)?;
    let mut ends = [0; 2];
    // SAFETY: `ends` has room for the two descriptors.
    if unsafe { libc::pipe(ends.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: this child role is single-threaded; the forked child only waits on the pipe and
    // leaves with _exit, holding the link it inherited.
    let child = match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error().into()),
        0 => {
            let mut byte = 0_u8;
            // SAFETY: the child's own descriptors and a local byte.
            unsafe {
                libc::close(ends[1]);
                libc::read(ends[0], std::ptr::from_mut(&mut byte).cast(), 1);
                libc::_exit(0)
            }
        }
        pid => pid,
    };
    let mut spare = Vec::new();
    if args.get(1).is_some_and(|how| how == "emfile") {
        let limit = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        // SAFETY: sets this process's own descriptor limit from a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        while let Ok(file) = std::fs::File::open("/dev/null") {
            spare.push(file);
        }
    }
    drop(link);
    drop(spare);
    println!("dropped");
    std::io::stdin().lock().lines().for_each(drop);
    let mut status = 0;
    // SAFETY: closing the write end ends the child, which is then waited for, into a local.
    unsafe {
        libc::close(ends[1]);
        libc::waitpid(child, &mut status, 0);
    }
    Ok(())
}

/// Holds the region read-only until stdin closes.
fn hold(name: &str, _: &[String]) -> RoleResult {
    let _link = SharedMemory::<ReadOnly>::open(name)?;
    println!("held");
    std::io::stdin().lock().lines().for_each(drop);
    Ok(())
}

/// Under umask 0277, creates the region with the mode in `args[1]` (or the default), and
/// prints the mode it got and whether the creator can open it again.
fn umask_create(name: &str, args: &[String]) -> RoleResult {
    // SAFETY: umask only sets this process's mask.
    unsafe { libc::umask(0o277) };
    let options = match args[1].as_str() {
        "default" => Options::new(),
        mode => Options::new().mode(u32::from_str_radix(mode, 8)?),
    };
    let _link = SharedMemory::<ReadWrite>::create_with(name, 8, &options)?;
    let mode = std::fs::metadata(object_path(name))?.mode() & 0o777;
    let _again = SharedMemory::<ReadWrite>::open_existing(name)?;
    println!("mode={mode:o} reopened");
    Ok(())
}

/// Creates a region with mode 0400, writes it through its link, and drops it.
fn read_only_mode_drop(name: &str, _: &[String]) -> RoleResult {
    let mut link = SharedMemory::<ReadWrite>::create_with(name, 8, &Options::new().mode(0o400))?;
    link.write_at(0, &1_u64)?;
    drop(link);
    println!("dropped");
    Ok(())
}

/// `get_or_create` with the owner check, then a write: prints "wrote" or why it was refused.
fn goc_write(name: &str, _: &[String]) -> RoleResult {
    let options = Options::new().require_owner(true);
    match SharedMemory::<ReadWrite>::get_or_create_with(name, 16, &options) {
        Ok(mut link) => {
            link.write_at(0, &[0xEE_u8; 16])?;
            println!("wrote");
        }
        Err(error) => println!("refused: {}", chain(&error)),
    }
    Ok(())
}

/// Opens the region read-only: prints "opened" or the error with its kind.
fn open_read_only(name: &str, _: &[String]) -> RoleResult {
    match SharedMemory::<ReadOnly>::open(name) {
        Ok(_) => println!("opened"),
        Err(error) => println!("error {}: {}", error_kind(&error), chain(&error)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The kind of the OS error inside `error`, or the variant's name.
pub(crate) fn error_kind(error: &SharedMemoryError) -> String {
    match error {
        SharedMemoryError::Open { source, .. } | SharedMemoryError::Create { source, .. } => {
            format!("{:?}", source.kind())
        }
        other => format!("{other:?}")
            .split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The error's message and those of its sources, as a report shows them.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text += &format!(": {inner}");
        cause = inner.source();
    }
    text
}

/// The file of the region's POSIX object.
pub(crate) fn object_path(name: &str) -> String {
    format!("/dev/shm/{}", name.trim_start_matches("Local\\"))
}

/// `command` run as the user (and group) `uid`.
pub(crate) fn as_user(mut command: Command, uid: u32) -> Command {
    command.uid(uid).gid(uid);
    command
}

/// Runs this binary in `role` as the user `uid` and returns what it printed.
pub(crate) fn run_as(uid: u32, role: &str, args: &[&str]) -> Result<String, Failed> {
    run_with_timeout(
        as_user(child_command(role, args), uid),
        Duration::from_secs(60),
    )
}

/// Runs `command` to its end and returns what it printed; kills it and fails after `limit`,
/// so that a call that hangs fails the test instead of the run.
pub(crate) fn run_with_timeout(mut command: Command, limit: Duration) -> Result<String, Failed> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let mut printed = String::new();
            let stdout = child.stdout.take().expect("piped stdout");
            BufReader::new(stdout).lines().try_for_each(|line| {
                printed.push_str(&line?);
                printed.push('\n');
                Ok::<_, std::io::Error>(())
            })?;
            if !status.success() {
                return Err(format!("the child exited with {status}").into());
            }
            return Ok(printed.trim().to_owned());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the child still ran after {limit:?}: it hangs").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
