//! What every area of the cross-process tests shares: the child processes a test talks to
//! (`Peer`, `run_child`, `spawn_child`), the types and byte patterns they exchange, unique
//! names, the resource counts the leak tests compare, and the checks that word failures.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use libtest_mimic::Failed;
use win_shared_memory::{ReadWrite, SharedMemoryError, SharedMemoryLink};

/// The environment variable that makes this binary a child in a role instead of a test run.
pub(crate) const ROLE_VAR: &str = "WSM_TEST_ROLE";

/// What a test returns.
pub(crate) type Outcome = Result<(), Failed>;

/// What a child role returns; an error makes the child exit with 1.
pub(crate) type RoleResult = Result<(), Box<dyn std::error::Error>>;

/// A child role: it gets the region's name (the first argument, or "") and all its arguments,
/// and what it prints on stdout is its answer.
pub(crate) type Role = fn(&str, &[String]) -> RoleResult;

/// The README's type.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GameState {
    pub(crate) score: u32,
    pub(crate) lives: u8,
}

pub(crate) const MIB: usize = 1 << 20;

pub(crate) type Mib = [u8; MIB];

/// How long a test waits for a lock that must come.
pub(crate) const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Handles (Windows), or descriptors and mappings (Linux), that this process has open.
///
/// Wine's GetProcessHandleCount always answers 0, so the handles are also counted by asking
/// GetHandleInformation about every handle value a small process uses; on Windows both count.
#[cfg(windows)]
pub(crate) fn resource_counts() -> String {
    use windows::Win32::Foundation::{GetHandleInformation, HANDLE};
    use windows::Win32::System::Threading::{GetCurrentProcess, GetProcessHandleCount};
    let mut reported = 0;
    // SAFETY: the pseudo-handle of the current process needs no closing; `reported` is a u32.
    unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut reported) }
        .expect("GetProcessHandleCount");
    let probed = (4..0x10000_usize)
        .step_by(4)
        .filter(|&value| {
            let mut flags = 0;
            // SAFETY: GetHandleInformation only looks the value up in the handle table; an
            // invalid value is an error, not undefined behaviour.
            unsafe { GetHandleInformation(HANDLE(value as *mut _), &mut flags) }.is_ok()
        })
        .count();
    format!(
        "handles={reported},probed={probed},views={}",
        mapped_views()
    )
}

/// The mapped views in this process's address space, found by walking it with VirtualQuery.
#[cfg(windows)]
fn mapped_views() -> usize {
    use windows::Win32::System::Memory::{MEM_MAPPED, MEMORY_BASIC_INFORMATION, VirtualQuery};
    let mut views = 0;
    let mut address = 0_usize;
    loop {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY: VirtualQuery only describes the address space; `info` is the buffer it fills,
        // of the size passed.
        let written = unsafe {
            VirtualQuery(
                Some(address as *const _),
                &mut info,
                size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if written == 0 {
            return views;
        }
        if info.Type == MEM_MAPPED && info.AllocationBase == info.BaseAddress {
            views += 1;
        }
        address = info.BaseAddress as usize + info.RegionSize;
    }
}

/// Handles (Windows), or descriptors and mappings (Linux), that this process has open.
#[cfg(target_os = "linux")]
pub(crate) fn resource_counts() -> String {
    let fds = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count();
    format!("fds={fds},maps={maps}")
}

/// Creates a fresh region under a unique name and writes a `GameState` into it.
pub(crate) fn publish(
    tag: &str,
    score: u32,
    lives: u8,
) -> Result<(String, SharedMemoryLink<GameState, ReadWrite>), Failed> {
    let name = unique_name(tag);
    let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    // SAFETY: nobody else knows the region yet.
    unsafe { *link.get_mut() = GameState { score, lives } };
    Ok((name, link))
}

/// A name no other test, nor another run of this suite, uses.
pub(crate) fn unique_name(tag: &str) -> String {
    format!("Local\\wsm_test_{}_{tag}", std::process::id())
}

/// What a result was, in the words the tests compare.
pub(crate) fn kind<T>(result: Result<T, SharedMemoryError>) -> String {
    match result {
        Ok(_) => "opened".into(),
        Err(error @ SharedMemoryError::Open { .. }) if error.is_not_found() => {
            "OpenMapping not-found".into()
        }
        Err(error @ SharedMemoryError::Open { .. }) if error.is_permission_denied() => {
            "OpenMapping denied".into()
        }
        Err(SharedMemoryError::NameTaken { .. }) => "AlreadyExists".into(),
        Err(SharedMemoryError::InvalidName { .. }) => "InvalidName".into(),
        Err(SharedMemoryError::Alignment { align, .. }) => format!("Alignment {align}"),
        Err(SharedMemoryError::SizeMismatch {
            required, actual, ..
        }) => {
            format!("SizeMismatch required={required} actual={actual}")
        }
        Err(other) => format!("unexpected: {other}"),
    }
}

/// A child's answer: what `result` was, in the words of [`kind`].
pub(crate) fn print_kind<T>(result: Result<T, SharedMemoryError>) -> RoleResult {
    println!("{}", kind(result));
    Ok(())
}

/// On Linux, checks that no POSIX object is left under the name: nothing leaked in /dev/shm.
#[cfg(target_os = "linux")]
pub(crate) fn expect_no_shm_object(name: &str) -> Outcome {
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    match std::path::Path::new(&file).exists() {
        true => Err(format!("{file} is left behind").into()),
        false => Ok(()),
    }
}

/// Elsewhere the OS itself removes what nobody holds; the tests' opens check that.
#[cfg(not(target_os = "linux"))]
pub(crate) fn expect_no_shm_object(_name: &str) -> Outcome {
    Ok(())
}

/// The CPU time this process has spent, user and system (getrusage).
#[cfg(target_os = "linux")]
pub(crate) fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage fills the zeroed struct it is given, for this process.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |time: libc::timeval| time.tv_sec as u64 * 1_000_000 + time.tv_usec as u64;
    std::time::Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Removes the name that a killed creator left behind on the portable backend (macOS, and
/// Linux with `--cfg wsm_portable`), where only the creator's drop removes it; then checks that
/// nothing is left. Elsewhere regions end with their last holder, and only the check runs.
pub(crate) fn remove_name_of_killed_creator(name: &str) -> Outcome {
    #[cfg(all(unix, not(wsm_holder_locks)))]
    rustix::shm::unlink(format!("/{}", name.trim_start_matches("Local\\")))?;
    expect_no_shm_object(name)
}

fn pattern_byte(index: usize, seed: u8) -> u8 {
    (index.wrapping_mul(31).wrapping_add(seed as usize) & 0xFF) as u8
}

pub(crate) fn fill_pattern(bytes: &mut [u8], seed: u8) {
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern_byte(index, seed);
    }
}

pub(crate) fn check_pattern(bytes: &[u8], seed: u8) -> Outcome {
    match bytes
        .iter()
        .enumerate()
        .position(|(index, &byte)| byte != pattern_byte(index, seed))
    {
        Some(index) => Err(format!(
            "byte {index} is {}, not {}",
            bytes[index],
            pattern_byte(index, seed)
        )
        .into()),
        None => Ok(()),
    }
}

pub(crate) fn expect_eq<T: PartialEq<U> + std::fmt::Debug, U: std::fmt::Debug>(
    actual: T,
    expected: U,
) -> Outcome {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {actual:?}").into())
    }
}

/// Runs this binary in `role` to the end and returns what it printed, trimmed.
pub(crate) fn run_child(role: &str, args: &[&str]) -> Result<String, Failed> {
    let output = child_command(role, args)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("child {role} exited with {}", output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// rFactor 2's version block, the counters the tests' stand-in games bracket updates with.
pub(crate) const RFACTOR2: win_shared_memory::sync::Versioning =
    win_shared_memory::sync::Versioning::BeginEnd { begin: 0, end: 4 };

/// The user the permission tests drop to.
#[cfg(target_os = "linux")]
pub(crate) const NOBODY: u32 = 65534;

/// Runs this binary in `role` as `nobody` and returns what it printed.
#[cfg(target_os = "linux")]
pub(crate) fn run_child_as_nobody(role: &str, args: &[&str]) -> Result<String, Failed> {
    use std::os::unix::process::CommandExt;
    let output = child_command(role, args).uid(NOBODY).gid(NOBODY).output()?;
    if !output.status.success() {
        return Err(format!(
            "the child as nobody failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn spawn_child(role: &str, args: &[&str]) -> Result<Peer, Failed> {
    Peer::spawn(child_command(role, args))
}

pub(crate) fn child_command(role: &str, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.env(ROLE_VAR, role).args(args);
    command
}

/// A child process that the test talks to line by line; killed if the test fails first.
pub(crate) struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub(crate) fn spawn(mut command: Command) -> Result<Self, Failed> {
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

    /// The child's process id (under Wine, that of the Windows program `wine` became).
    #[cfg(target_os = "linux")]
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn read_line(&mut self) -> Result<String, Failed> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    pub(crate) fn expect_line(&mut self, expected: &str) -> Outcome {
        expect_eq(self.read_line()?, expected)
    }

    pub(crate) fn send(&mut self, line: &str) -> Outcome {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        writeln!(stdin, "{line}")?;
        Ok(stdin.flush()?)
    }

    /// Closes the child's stdin, which tells a child still waiting for a line to finish, and
    /// checks that it succeeded.
    pub(crate) fn finish(mut self) -> Outcome {
        self.stdin = None;
        let status = self.child.wait()?;
        expect_eq(status.code(), Some(0))
    }

    /// Kills the child (SIGKILL, or TerminateProcess on Windows) and reaps it.
    pub(crate) fn kill(&mut self) -> Outcome {
        if let Err(error) = self.child.kill() {
            // Wine under load can fail TerminateProcess (ERROR_INTERNAL_ERROR) on a process that
            // is already ending; only a child that is still alive is a failure.
            if self.child.try_wait()?.is_none() {
                return Err(format!("killing the child: {error}").into());
            }
        }
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

/// What each waiting child answered once it ended, after the "waiting" it says when it starts
/// to wait (if that was not read yet).
pub(crate) fn answers(waiters: Vec<Peer>) -> Result<Vec<String>, Failed> {
    let mut answers = Vec::with_capacity(waiters.len());
    for mut waiter in waiters {
        let mut answer = waiter.read_line()?;
        if answer == "waiting" {
            answer = waiter.read_line()?;
        }
        answers.push(answer);
        waiter.finish()?;
    }
    Ok(answers)
}
