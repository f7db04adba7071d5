//! Linux lifetime under unusual but real usage (issue 11) and hostile names (issue 10, items 4
//! and 5): fork, a strict umask, stale regions touched by another user, names replaced under an
//! open, processes that exit without dropping, symbolic links and FIFOs. Each test runs real
//! processes: this binary again in a named role, as root or as another user.
//!
//! Tests of guarantees that only the Linux backend gives (stale regions reclaimed, bounded
//! lock waits) are left out under `--cfg wsm_portable`; the others run against both backends.

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
    use std::time::{Duration, Instant};

    use libtest_mimic::{Arguments, Failed, Trial};
    use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};

    const ROLE_VAR: &str = "WSM_LIFETIME_ROLE";
    const NOBODY: u32 = 65534;
    /// Users with no other process on the machine, so that no other test's sweep (which
    /// removes its own user's stale regions) takes a stale region away mid-test.
    /// Each test that leaves a stale region has its own such user, as tests run in parallel.
    const OWNER: u32 = 4242;
    const THIRD: u32 = 4243;
    const LOCKING_OWNER: u32 = 4244;
    const UNDELETABLE_OWNER: u32 = 4245;
    const MIB: usize = 1 << 20;
    /// Whether the Linux backend (holder locks, stale regions reclaimed) is built.
    const LINUX_BACKEND: bool = !cfg!(wsm_portable);

    type Outcome = Result<(), Failed>;

    pub fn main() {
        if let Ok(role) = std::env::var(ROLE_VAR) {
            let args: Vec<String> = std::env::args().skip(1).collect();
            if let Err(message) = child(&role, &args) {
                eprintln!("child {role} failed: {message}");
                std::process::exit(1);
            }
            return;
        }
        let mut trials = vec![
            Trial::test(
                "a_forked_child_alone_dropping_leaves_the_parents_region",
                || forked_child_drops(false),
            ),
            Trial::test(
                "a_forked_child_dropping_with_other_holders_leaves_the_parents_lock",
                || forked_child_drops(true),
            ),
            Trial::test(
                "modes_are_exact_under_umask_0277",
                modes_are_exact_under_umask_0277,
            ),
            Trial::test(
                "a_symlink_under_the_name_is_never_followed",
                a_symlink_under_the_name_is_never_followed,
            ),
            Trial::test(
                "a_fifo_under_the_name_is_refused_at_once",
                a_fifo_under_the_name_is_refused_at_once,
            ),
        ];
        if LINUX_BACKEND {
            trials.extend([
                Trial::test(
                    "a_stale_region_is_never_adopted",
                    a_stale_region_is_never_adopted,
                ),
                Trial::test(
                    "a_held_write_lock_makes_create_fail_in_bounded_time",
                    a_held_write_lock_makes_create_fail_in_bounded_time,
                ),
                Trial::test(
                    "an_open_while_the_name_is_replaced_never_reports_it_absent",
                    an_open_while_the_name_is_replaced_never_reports_it_absent,
                ),
                Trial::test(
                    "a_foreign_undeletable_stale_region_reports_the_call_and_errno",
                    a_foreign_undeletable_stale_region_reports_the_call_and_errno,
                ),
                Trial::test(
                    "regions_of_exited_processes_are_reclaimed_by_the_next_user",
                    regions_of_exited_processes_are_reclaimed_by_the_next_user,
                ),
                Trial::test(
                    "reclaim_stale_leaves_other_programs_and_users_alone",
                    reclaim_stale_leaves_other_programs_and_users_alone,
                ),
            ]);
        }
        libtest_mimic::run(&Arguments::from_args(), trials).exit();
    }

    /// A link inherited through `fork` and dropped in the child leaves the parent's region,
    /// name and lock alone, whether the parent is the only other holder or not.
    fn forked_child_drops(other_holder: bool) -> Outcome {
        let name = unique_name(if other_holder {
            "fork_shared"
        } else {
            "fork_alone"
        });
        let mut parent = Peer::spawn(child_command("fork_drop", &[&name]))?;
        parent.expect_line("created")?;
        let mut other = None;
        if other_holder {
            let mut holder = Peer::spawn(child_command("hold", &[&name]))?;
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
            Err(SharedMemoryError::AlreadyExists) => {}
            other => {
                return Err(format!("the parent's name was lost: create gave {other:?}").into());
            }
        }
        let seen = SharedMemory::<ReadOnly>::open(&name)?.read_at::<u64>(0)?;
        expect_eq(seen, 0x1122_3344_5566_7788_u64)?;
        parent.finish()?;
        if LINUX_BACKEND {
            expect_no_object(&name)?;
        }
        Ok(())
    }

    /// The default mode and chosen ones are exact under umask 0277, and the creator (another
    /// user than root, whom modes do not stop) can open its own region again.
    fn modes_are_exact_under_umask_0277() -> Outcome {
        for mode in ["default", "600", "640"] {
            let name = unique_name(&format!("umask_{mode}"));
            let printed = run_as(NOBODY, "umask_create", &[&name, mode])?;
            let expected = if mode == "640" { 0o640 } else { 0o600 };
            expect_eq(printed, format!("mode={expected:o} reopened"))?;
        }
        Ok(())
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
        let result = run_as(NOBODY, "goc_write", &[&name]);
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
        let result = run_with_timeout(child_command("open_ro", &[&name]), Duration::from_secs(10));
        let _ = std::fs::remove_file(object_path(&name));
        let printed = result?;
        if !printed.contains("not a regular file") {
            return Err(format!("expected a refusal of the FIFO, got {printed:?}").into());
        }
        Ok(())
    }

    /// The sequence of issue 11 item 3: the holder of a `mode(0o644)` region is killed, another
    /// user's read-only open fails, that user holds `flock(LOCK_EX)` on the object, and the
    /// owner's `get_or_create` still makes a fresh region, promptly.
    fn a_stale_region_is_never_adopted() -> Outcome {
        let name = unique_name("stale_adopt");
        let mut holder = Peer::spawn(as_user(child_command("hold_pattern", &[&name]), OWNER))?;
        holder.expect_line("held")?;
        holder.kill()?;
        if !std::path::Path::new(&object_path(&name)).exists() {
            return Err("the killed holder's region is already gone: nothing to test".into());
        }
        let opened = run_as(NOBODY, "open_ro", &[&name])?;
        if !opened.starts_with("error") {
            return Err(format!("another user opened a dead region: {opened}").into());
        }
        let mut locker = Peer::spawn(as_user(child_command("flock_ex", &[&name]), NOBODY))?;
        locker.expect_line("locked")?;
        let command = as_user(child_command("goc", &[&name]), OWNER);
        let printed = run_with_timeout(command, Duration::from_secs(10));
        drop(locker);
        let _ = std::fs::remove_file(object_path(&name));
        expect_eq(printed?, "created=true zeroed=true")
    }

    /// A process that keeps the object's write lock (and its flock) cannot make a
    /// `get_or_create` wait for ever: it fails after its patience, naming the region.
    fn a_held_write_lock_makes_create_fail_in_bounded_time() -> Outcome {
        let name = unique_name("write_locked");
        let mut holder = Peer::spawn(as_user(
            child_command("hold_pattern", &[&name]),
            LOCKING_OWNER,
        ))?;
        holder.expect_line("held")?;
        holder.kill()?;
        let mut locker = Peer::spawn(as_user(
            child_command("write_lock", &[&name]),
            LOCKING_OWNER,
        ))?;
        locker.expect_line("locked")?;
        let started = Instant::now();
        let command = as_user(child_command("goc", &[&name]), LOCKING_OWNER);
        let printed = run_with_timeout(command, Duration::from_secs(20));
        let waited = started.elapsed();
        drop(locker);
        let _ = std::fs::remove_file(object_path(&name));
        let printed = printed?;
        let file = object_path(&name);
        if !printed.starts_with("error TimedOut") || !printed.contains(&file) {
            return Err(format!("expected a TimedOut naming {file}, got {printed:?}").into());
        }
        if waited > Duration::from_secs(10) {
            return Err(format!("the error took {waited:?}").into());
        }
        Ok(())
    }

    /// While the name always names an object (atomically replaced, back and forth, between a
    /// live region and a stale one that the opener may not remove), an open never says that
    /// no region has the name: it joins the live one, or reports the stale one with its cause.
    fn an_open_while_the_name_is_replaced_never_reports_it_absent() -> Outcome {
        let name = unique_name("replaced");
        let named = object_path(&name);
        let live_name = format!("{name}_live");
        let _live =
            SharedMemory::<ReadWrite>::create_with(&live_name, 64, &Options::new().mode(0o644))?;
        let stale = format!("{named}_stale");
        std::fs::write(&stale, [0_u8; 64])?;
        std::os::unix::fs::chown(&stale, Some(THIRD), Some(THIRD))?;
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o3644))?;
        let flips = std::sync::atomic::AtomicBool::new(true);
        let temporary = format!("{named}_next");
        let result = std::thread::scope(|scope| {
            let flipper = scope.spawn(|| {
                let mut which = false;
                while flips.load(std::sync::atomic::Ordering::Relaxed) {
                    let source = if which {
                        object_path(&live_name)
                    } else {
                        stale.clone()
                    };
                    which = !which;
                    if std::fs::hard_link(&source, &temporary).is_ok() {
                        let _ = std::fs::rename(&temporary, &named);
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(5));
            let printed = run_as(NOBODY, "open_loop", &[&name, "3000"]);
            flips.store(false, std::sync::atomic::Ordering::Relaxed);
            let _ = flipper.join();
            printed
        });
        for path in [&named, &stale, &temporary] {
            let _ = std::fs::remove_file(path);
        }
        let printed = result?;
        let counts: Vec<usize> = printed
            .split_whitespace()
            .filter_map(|field| field.split('=').nth(1)?.parse().ok())
            .collect();
        let [joined, stale_reported, absent, other] = counts[..] else {
            return Err(format!("unexpected output {printed:?}").into());
        };
        if absent != 0 || other != 0 || joined == 0 || stale_reported == 0 {
            return Err(format!("expected joins and stale reports only, got {printed}").into());
        }
        Ok(())
    }

    /// A stale region that this user may open but not remove (another user's, mode 0666):
    /// the error names the call that failed and its errno, instead of hiding it.
    fn a_foreign_undeletable_stale_region_reports_the_call_and_errno() -> Outcome {
        let name = unique_name("undeletable");
        let mut holder = Peer::spawn(as_user(
            child_command("hold_pattern", &[&name, "666"]),
            UNDELETABLE_OWNER,
        ))?;
        holder.expect_line("held")?;
        holder.kill()?;
        let printed = run_as(NOBODY, "goc", &[&name]);
        let _ = std::fs::remove_file(object_path(&name));
        let printed = printed?;
        let file = object_path(&name);
        if !printed.contains("unlink")
            || !printed.contains("os error 1")
            || !printed.contains(&file)
        {
            return Err(format!("expected unlink's EPERM on {file}, got {printed:?}").into());
        }
        Ok(())
    }

    /// Processes that end without dropping (`process::exit`, SIGINT's default action,
    /// SIGKILL) holding a 1 MiB and an 8-byte region leave nothing in /dev/shm once another
    /// process has used the crate.
    fn regions_of_exited_processes_are_reclaimed_by_the_next_user() -> Outcome {
        for how in ["exit", "sigint", "sigkill"] {
            let big = unique_name(&format!("exit_{how}_big"));
            let small = unique_name(&format!("exit_{how}_small"));
            let mut holder = Peer::spawn(child_command("exit_holding", &[how, &big, &small]))?;
            holder.expect_line("held")?;
            if how == "sigkill" {
                holder.kill()?;
            } else {
                holder.send("go")?;
                holder.child.wait()?;
            }
            run_child("use_crate", &[])?;
            for name in [&big, &small] {
                expect_no_object(name)
                    .map_err(|error| format!("after {how}: {}", error_text(error)))?;
            }
        }
        Ok(())
    }

    /// `reclaim_stale` removes this user's stale regions and nothing else: not another
    /// program's (unmarked) object, not another user's stale region, not a live one.
    fn reclaim_stale_leaves_other_programs_and_users_alone() -> Outcome {
        let stale = unique_name("reclaim_stale");
        let mut holder = Peer::spawn(child_command("hold_pattern", &[&stale]))?;
        holder.expect_line("held")?;
        holder.kill()?;
        let live = unique_name("reclaim_live");
        let _live = SharedMemory::<ReadWrite>::create(&live, 8)?;
        let unmarked = object_path(&unique_name("reclaim_unmarked"));
        std::fs::write(&unmarked, [0_u8; 8])?;
        std::fs::set_permissions(&unmarked, std::fs::Permissions::from_mode(0o600))?;
        let foreign = object_path(&unique_name("reclaim_foreign"));
        std::fs::write(&foreign, [0_u8; 8])?;
        std::os::unix::fs::chown(&foreign, Some(THIRD), Some(THIRD))?;
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o3600))?;
        let removed = win_shared_memory::reclaim_stale()?;
        let kept = [&unmarked, &foreign, &object_path(&live)]
            .iter()
            .all(|path| std::path::Path::new(path).exists());
        let _ = std::fs::remove_file(&unmarked);
        let _ = std::fs::remove_file(&foreign);
        if !kept {
            return Err(
                "reclaim_stale removed an object that is not a stale region of its user".into(),
            );
        }
        if removed == 0 {
            return Err("reclaim_stale removed nothing".into());
        }
        expect_no_object(&stale)
    }

    /// The child roles.
    fn child(role: &str, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
        let name = args.first().map(String::as_str).unwrap_or_default();
        let mut lines = std::io::stdin().lock().lines();
        match role {
            "fork_drop" => {
                let mut link = SharedMemory::<ReadWrite>::create(name, 8)?;
                link.write_at(0, &0x1122_3344_5566_7788_u64)?;
                println!("created");
                lines.next();
                // SAFETY: this child role is single-threaded; the forked child only drops the
                // link and leaves with _exit.
                match unsafe { libc::fork() } {
                    -1 => return Err(std::io::Error::last_os_error().into()),
                    0 => {
                        drop(link);
                        // SAFETY: ends the forked child without running the parent's exit code.
                        unsafe { libc::_exit(0) }
                    }
                    pid => {
                        let mut status = 0;
                        // SAFETY: waits for the child just forked.
                        unsafe { libc::waitpid(pid, &mut status, 0) };
                    }
                }
                println!("forked");
                for _ in lines.by_ref() {}
                drop(link);
            }
            "hold" => {
                let _link = SharedMemory::<ReadOnly>::open(name)?;
                println!("held");
                for _ in lines.by_ref() {}
            }
            "hold_pattern" => {
                let mode = args
                    .get(1)
                    .map_or(Ok(0o644), |mode| u32::from_str_radix(mode, 8))?;
                let mut link =
                    SharedMemory::<ReadWrite>::create_with(name, 64, &Options::new().mode(mode))?;
                link.write_at(0, &[0xAB_u8; 64])?;
                println!("held");
                for _ in lines.by_ref() {}
            }
            "umask_create" => {
                // SAFETY: umask only sets the process's mask.
                unsafe { libc::umask(0o277) };
                let options = match args[1].as_str() {
                    "default" => Options::new(),
                    mode => Options::new().mode(u32::from_str_radix(mode, 8)?),
                };
                let _link = SharedMemory::<ReadWrite>::create_with(name, 8, &options)?;
                let mode = std::fs::metadata(object_path(name))?.mode() & 0o777;
                let _again = SharedMemory::<ReadWrite>::open_existing(name)?;
                println!("mode={mode:o} reopened");
            }
            "goc_write" => {
                let options = Options::new().require_owner(true);
                match SharedMemory::<ReadWrite>::get_or_create_with(name, 16, &options) {
                    Ok(mut link) => {
                        link.write_at(0, &[0xEE_u8; 16])?;
                        println!("wrote");
                    }
                    Err(error) => println!("refused: {error}"),
                }
            }
            "open_ro" => match SharedMemory::<ReadOnly>::open(name) {
                Ok(_) => println!("opened"),
                Err(error) => println!("error {}: {error}", kind(&error)),
            },
            "flock_ex" => {
                let file = std::fs::File::open(object_path(name))?;
                // SAFETY: flock on an open descriptor.
                if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) }
                    != 0
                {
                    return Err(std::io::Error::last_os_error().into());
                }
                println!("locked");
                for _ in lines.by_ref() {}
            }
            "write_lock" => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(object_path(name))?;
                let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
                // SAFETY: flock on an open descriptor.
                let flocked = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
                // SAFETY: an all-zero flock is valid; fcntl reads it.
                let mut lock: libc::flock = unsafe { std::mem::zeroed() };
                lock.l_type = libc::F_WRLCK as _;
                // SAFETY: an OFD lock request on an open descriptor.
                let locked = unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &mut lock) };
                if flocked != 0 || locked != 0 {
                    return Err(std::io::Error::last_os_error().into());
                }
                println!("locked");
                for _ in lines.by_ref() {}
            }
            "goc" => match SharedMemory::<ReadWrite>::get_or_create(name, 64) {
                Ok(link) => {
                    let zeroed = link.read_at::<[u8; 64]>(0)? == [0; 64];
                    println!("created={} zeroed={zeroed}", link.created());
                }
                Err(error) => println!("error {}: {error}", kind(&error)),
            },
            "open_loop" => {
                let rounds: usize = args[1].parse()?;
                let (mut joined, mut stale, mut absent, mut other) = (0, 0, 0, 0);
                for _ in 0..rounds {
                    match SharedMemory::<ReadOnly>::open(name) {
                        Ok(_) => joined += 1,
                        Err(error) => {
                            let text = format!("{error}");
                            if text.contains("stale") {
                                stale += 1;
                            } else if kind(&error) == "NotFound" {
                                absent += 1;
                            } else {
                                other += 1;
                                eprintln!("open_loop: {text}");
                            }
                        }
                    }
                }
                println!("joined={joined} stale={stale} absent={absent} other={other}");
            }
            "exit_holding" => {
                let big = SharedMemory::<ReadWrite>::create(name, MIB)?;
                let small = SharedMemory::<ReadWrite>::create(&args[2], 8)?;
                println!("held");
                std::io::stdout().flush()?;
                let _ = lines.next();
                match args[0].as_str() {
                    "exit" => std::process::exit(0),
                    // SAFETY: raise only sends the signal, whose default action ends the process.
                    "sigint" => unsafe {
                        libc::raise(libc::SIGINT);
                    },
                    _ => {}
                }
                drop((big, small));
            }
            "use_crate" => {
                let _ = SharedMemory::<ReadOnly>::open(unique_name("never_created"));
            }
            other => return Err(format!("unknown role {other}").into()),
        }
        Ok(())
    }

    /// The kind of the OS error inside `error`, or the variant's name.
    fn kind(error: &SharedMemoryError) -> String {
        match error {
            SharedMemoryError::OpenMapping(cause) | SharedMemoryError::CreateMapping(cause) => {
                format!("{:?}", cause.kind())
            }
            other => format!("{other:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn unique_name(tag: &str) -> String {
        format!("Local\\wsm_life_{tag}_{}", std::process::id())
    }

    fn object_path(name: &str) -> String {
        format!("/dev/shm/{}", name.trim_start_matches("Local\\"))
    }

    fn expect_no_object(name: &str) -> Outcome {
        let path = object_path(name);
        match std::path::Path::new(&path).exists() {
            true => Err(format!("{path} is left behind").into()),
            false => Ok(()),
        }
    }

    fn error_text(failed: Failed) -> String {
        failed.message().unwrap_or_default().to_owned()
    }

    fn expect_eq<T: PartialEq<U> + std::fmt::Debug, U: std::fmt::Debug>(
        actual: T,
        expected: U,
    ) -> Outcome {
        if actual == expected {
            Ok(())
        } else {
            Err(format!("expected {expected:?}, got {actual:?}").into())
        }
    }

    fn child_command(role: &str, args: &[&str]) -> Command {
        let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
        command.env(ROLE_VAR, role).args(args);
        command
    }

    fn as_user(mut command: Command, uid: u32) -> Command {
        command.uid(uid).gid(uid);
        command
    }

    fn run_child(role: &str, args: &[&str]) -> Result<String, Failed> {
        run_with_timeout(child_command(role, args), Duration::from_secs(60))
    }

    fn run_as(uid: u32, role: &str, args: &[&str]) -> Result<String, Failed> {
        run_with_timeout(
            as_user(child_command(role, args), uid),
            Duration::from_secs(60),
        )
    }

    /// Runs `command` to its end and returns what it printed; kills it and fails after `limit`.
    fn run_with_timeout(mut command: Command, limit: Duration) -> Result<String, Failed> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let mut printed = String::new();
                std::io::Read::read_to_string(
                    &mut child.stdout.take().expect("piped"),
                    &mut printed,
                )?;
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

    /// A child the test talks to line by line; killed if the test ends first.
    struct Peer {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: BufReader<ChildStdout>,
    }

    impl Peer {
        fn spawn(mut command: Command) -> Result<Self, Failed> {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdin = child.stdin.take();
            let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            Ok(Self {
                child,
                stdin,
                stdout,
            })
        }

        fn expect_line(&mut self, expected: &str) -> Outcome {
            let mut line = String::new();
            self.stdout.read_line(&mut line)?;
            expect_eq(line.trim(), expected)
        }

        fn send(&mut self, line: &str) -> Outcome {
            let stdin = self.stdin.as_mut().expect("stdin is open until finish");
            writeln!(stdin, "{line}")?;
            Ok(stdin.flush()?)
        }

        fn finish(mut self) -> Outcome {
            self.stdin = None;
            expect_eq(self.child.wait()?.code(), Some(0))
        }

        fn kill(&mut self) -> Outcome {
            self.child.kill()?;
            self.child.wait()?;
            Ok(())
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
