//! Two or more "machines" on one host: network namespaces joined by veth pairs, each machine a
//! mount namespace of its own with a private tmpfs on `/dev/shm`. Everything is named after
//! this process and removed on drop; only the addresses of the veth pairs made here are used.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why the namespace tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("network and mount namespaces are Linux's".into());
    }
    if !is_root() {
        return Some("making network namespaces needs root".into());
    }
    for tool in ["ip", "nsenter", "unshare", "mount"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return Some(format!("no `{tool}` on PATH"));
        }
    }
    None
}

/// Whether this process runs as root (Linux; elsewhere the tests that ask are skipped).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[cfg(target_os = "linux")]
    return unsafe { libc::geteuid() } == 0;
    #[cfg(not(target_os = "linux"))]
    false
}

/// The clock ticks per second of `/proc`'s CPU times (Linux; elsewhere nothing reads them).
pub fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    #[cfg(target_os = "linux")]
    return unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    #[cfg(not(target_os = "linux"))]
    100.0
}

/// Runs a command to completion; its failure is the test's.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|error| format!("{args:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace; removed (with its end of any veth pair) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Result<Self, String> {
        let name = format!(
            "wsmt{}n{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name])?;
        let netns = Self { name };
        sh(&["ip", "-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// A counter of an interface here (`tx_bytes`, `rx_bytes`).
    pub fn counter(&self, interface: &str, counter: &str) -> Result<u64, String> {
        let path = format!("/sys/class/net/{interface}/statistics/{counter}");
        let text = sh(&["ip", "netns", "exec", &self.name, "cat", &path])?;
        text.trim().parse().map_err(|_| format!("{path}: {text:?}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth pair between two namespaces, addresses 10.<subnet>.0.1 and .2 (/24).
pub struct Veth {
    pub a: String,
    pub b: String,
    pub a_address: String,
    pub b_address: String,
}

impl Veth {
    pub fn join(a: &Netns, b: &Netns, subnet: u8) -> Result<Self, String> {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let veth = Self {
            a: format!("wa{}x{id}", std::process::id() % 100_000),
            b: format!("wb{}x{id}", std::process::id() % 100_000),
            a_address: format!("10.{subnet}.0.1"),
            b_address: format!("10.{subnet}.0.2"),
        };
        sh(&[
            "ip", "link", "add", &veth.a, "netns", &a.name, "type", "veth", "peer", "name",
            &veth.b, "netns", &b.name,
        ])?;
        for (netns, interface, address) in
            [(a, &veth.a, &veth.a_address), (b, &veth.b, &veth.b_address)]
        {
            sh(&[
                "ip",
                "-n",
                &netns.name,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                interface,
            ])?;
            sh(&["ip", "-n", &netns.name, "link", "set", interface, "up"])?;
        }
        Ok(veth)
    }
}

/// A machine: a mount namespace with its own `/dev/shm`, in a network namespace, held by a
/// process that lives until this is dropped.
pub struct Machine {
    holder: Child,
    pid: u32,
}

impl Machine {
    pub fn new(netns: &Netns) -> Result<Self, String> {
        let mut holder = Command::new("ip")
            .args(["netns", "exec", &netns.name, "unshare", "-m", "--propagation", "private"])
            .args(["sh", "-c", "mount -t tmpfs -o size=256m,mode=1777 wsm-test /dev/shm && echo mounted && exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("starting a machine: {error}"))?;
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().expect("piped"))
            .read_line(&mut line)
            .map_err(|error| error.to_string())?;
        if line.trim() != "mounted" {
            let _ = holder.kill();
            return Err("the machine's /dev/shm was not mounted".into());
        }
        let pid = holder.id();
        Ok(Self { holder, pid })
    }

    /// A command run on this machine.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.pid.to_string(), "-m", "-n", "--"])
            .arg(program);
        command
    }

    /// The entries of this machine's `/dev/shm`, but the crate's index directories.
    pub fn shm_entries(&self) -> Result<Vec<String>, String> {
        let out = self
            .command("ls")
            .args(["-A", "/dev/shm"])
            .output()
            .map_err(|error| error.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|entry| !entry.starts_with(".win-shared-memory-"))
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        drop(self.holder.stdin.take());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A process the test started: its output read line by line, its input closed to stop it.
pub struct Running {
    pub what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn start(mut command: Command, what: &str) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("starting {what}: {error}"))?;
        let stdin = child.stdin.take();
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            what: what.to_owned(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits at most `limit` for a line equal to `expected`.
    pub fn expect(&mut self, expected: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.trim() == expected;
                    self.seen.push(line);
                    if done {
                        return Ok(());
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "{} did not print {expected:?} within {limit:?} (printed {:?})",
                        self.what, self.seen
                    ));
                }
            }
        }
    }

    /// Closes its input and waits at most `limit` for it to exit; its output.
    pub fn finish(mut self, limit: Duration) -> Result<String, String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Its last lines: until the output's end (its reader thread then ends).
                    let drained = Instant::now() + Duration::from_secs(5);
                    while let Ok(line) = self
                        .lines
                        .recv_timeout(drained.saturating_duration_since(Instant::now()))
                    {
                        self.seen.push(line);
                    }
                    let output = self.seen.join("\n");
                    return if status.success() {
                        Ok(output)
                    } else {
                        Err(format!("{} exited with {status}: {output}", self.what))
                    };
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    return Err(format!("{} did not exit within {limit:?}", self.what));
                }
            }
        }
    }

    /// Kills it (SIGKILL: a death without drop, which leaves what it made as it was).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id (of `nsenter`, which execs the program: the program's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    /// A test that fails midway lets its processes end as they end when it passes (their input
    /// closed, so they drop what they made); one that does not within a second is killed.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
