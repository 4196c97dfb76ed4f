//! Server processes: how to start one, and what /proc says about it.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How to start one server: program, arguments and environment.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// A command put in front (`WELD_BENCH_WRAP`, e.g. a profiler).
    pub wrap: Vec<String>,
    /// Run the process (all its threads) on this CPU only.
    pub cpu: Option<usize>,
}

impl Launch {
    pub fn new(program: &Path) -> Self {
        Self {
            program: program.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            wrap: Vec::new(),
            cpu: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut command = match self.wrap.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command.args(&self.args);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.kill_on_drop(true);
        if let Some(cpu) = self.cpu {
            #[allow(
                unsafe_code,
                reason = "pre_exec is unsafe; pinning a server to a CPU needs it"
            )]
            // SAFETY: the closure makes one async-signal-safe system call
            // (sched_setaffinity) and allocates nothing.
            unsafe {
                command.pre_exec(move || pin_current_thread(cpu));
            };
        }
        command
    }
}

/// Restricts the calling thread (and processes it starts afterwards) to
/// `cpu`.
#[allow(
    unsafe_code,
    reason = "libc's CPU set calls are unsafe; there is no safe wrapper in the tree"
)]
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and
    // sched_setaffinity only read and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set_affinity(&set)
    }
}

/// The calling thread's CPU set, to restore with [`set_affinity`].
#[allow(
    unsafe_code,
    reason = "libc's CPU set calls are unsafe; there is no safe wrapper in the tree"
)]
pub fn current_affinity() -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()`
    // bytes into the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(set)
    }
}

pub fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    #[allow(unsafe_code, reason = "sched_setaffinity is a raw libc call")]
    // SAFETY: sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of `set`.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A running server. Killed when dropped.
pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

fn log_file(log: &Path) -> Result<Stdio> {
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Ok(Stdio::from(file))
}

/// Starts `launch` with piped stdin and stdout (returned: the client's ends);
/// its stderr goes to `log`.
pub fn spawn_stdio(launch: &Launch, log: &Path) -> Result<(Server, ChildStdin, ChildStdout)> {
    let mut child = launch
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file(log)?)
        .spawn()
        .with_context(|| format!("starting {}", launch.program.display()))?;
    let pid = child.id().context("the child has no pid")?;
    let stdin = child.stdin.take().context("no stdin pipe")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let server = Server {
        child,
        pid,
        log: log.to_path_buf(),
    };
    Ok((server, stdin, stdout))
}

/// Starts `launch` (which must serve HTTP and log its URL) and waits until
/// the URL appears in `log`.
pub async fn spawn_http(launch: &Launch, log: &Path) -> Result<(Server, SocketAddr)> {
    let mut child = launch
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(log)?)
        .spawn()
        .with_context(|| format!("starting {}", launch.program.display()))?;
    let pid = child.id().context("the child has no pid")?;
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = bound_address(&text) {
            let server = Server {
                child,
                pid,
                log: log.to_path_buf(),
            };
            return Ok((server, addr));
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}) before listening:\n{}",
                launch.program.display(),
                tail(&text)
            );
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "{} did not start listening in 30 s",
                launch.program.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The address in a `url=http://ADDR/mcp` log line.
fn bound_address(log: &str) -> Option<SocketAddr> {
    let start = log.find("url=http://")? + "url=http://".len();
    let rest = &log[start..];
    let end = rest.find("/mcp")?;
    rest[..end].parse().ok()
}

impl Server {
    /// Ends the server: SIGKILL, then reap it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Waits a little for a stdio server whose stdin was closed (the polite
    /// way to end one) to exit, then kills it.
    pub async fn finish(mut self) {
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            self.stop().await;
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Resident memory of a process, from /proc/PID/status, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:") + field("RssShmem:"),
    })
}

/// CPU time the process's threads have used, in nanoseconds: the sum of
/// the first field of /proc/PID/task/*/schedstat (the scheduler's exact
/// on-CPU time). Threads that ended are not counted, so take differences
/// over a window in which the server starts and ends no threads (true of
/// both servers once serving: tokio's workers and weld's epoch ticker live
/// as long as the process).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .with_context(|| format!("malformed {}", path.display()))?;
    }
    Ok(Duration::from_nanos(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bound_address_in_a_log() {
        let log = "2026-01-01T00:00:00Z  INFO weld: serving MCP over HTTP url=http://127.0.0.1:4321/mcp\n";
        assert_eq!(
            bound_address(log),
            Some("127.0.0.1:4321".parse().expect("an address"))
        );
        assert_eq!(bound_address("nothing yet"), None);
    }

    #[test]
    fn reads_its_own_memory_and_cpu() {
        let me = std::process::id();
        assert!(memory(me).expect("status").rss_kib > 0);
        let before = cpu_time(me).expect("schedstat");
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(20) {
            std::hint::black_box(0);
        }
        assert!(cpu_time(me).expect("schedstat") > before);
    }
}
