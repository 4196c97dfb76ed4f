//! Compiling a component, within limits of time and memory.
//!
//! Cranelift's time and memory grow faster than the size of some code: a
//! 232 KB function that keeps many values live takes 50 s to compile, and
//! nothing inside Wasmtime can stop a compilation once started. A component
//! is untrusted input, so [`Compiler::Process`] compiles it in a child
//! process (weld re-running itself) that can be stopped:
//!
//! - the parent writes the component to the child's stdin and reads the
//!   artefact from its stdout, and kills the child when [`CompileLimits::timeout`]
//!   (wall clock) passes first;
//! - the child, before reading its input, limits its own memory (`RLIMIT_DATA`
//!   on Linux — private writable memory, so address space Wasmtime or the
//!   allocator only reserves does not count — `RLIMIT_AS` elsewhere) and CPU
//!   time (`RLIMIT_CPU`, a backstop should the parent die; on Linux the child
//!   is also killed with its parent);
//! - the child builds an engine with the parent's configuration but without
//!   the instance pool (whose terabyte address-space reservation a memory
//!   limit would refuse; the pool changes nothing in the generated code), and
//!   sends its compatibility key with the artefact: the parent loads an
//!   artefact only when the key is its own;
//! - what ended the child decides the error: killed at the deadline or by
//!   the CPU limit is [`CompileLimit::Time`], an allocation failure is
//!   [`CompileLimit::Memory`], a component Wasmtime rejects is
//!   [`RuntimeError::Compile`].
//!
//! The artefact the child returns goes into the cache with its MAC and is
//! loaded from those bytes, like one compiled in process. The calling thread
//! only waits while the child works, so several compilations can run at once
//! from different threads.
//!
//! With the incremental compile cache (see `incremental`), the child gets
//! the store's file and cap as arguments and the store's key on stdin,
//! before the component (never on the command line, which other users can
//! read); it reads the store and appends to it itself, and says how many
//! functions it reused and compiled in its answer's first line. Holding the
//! key gives it nothing it did not have: its artefact is MAC'd and run by
//! the parent anyway.
//!
//! [`Compiler::InProcess`] (the default, for library users and tests) is
//! unbounded.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Engine, InstanceAllocationStrategy};

use crate::cache::{self, CacheKey};
use crate::component::Metering;
use crate::engine::engine_config;
use crate::error::RuntimeError;
use crate::incremental::{IncrementalStats, IncrementalStore};

/// Where components are compiled.
#[derive(Debug, Clone, Default)]
pub enum Compiler {
    /// In this process, without limits.
    #[default]
    InProcess,
    /// In a child process, within limits.
    Process(CompilerProcess),
}

/// A child process that compiles one component.
#[derive(Debug, Clone)]
pub struct CompilerProcess {
    /// The program to run: a build of this very crate (the same Wasmtime
    /// and engine configuration) whose `args` lead to [`child_main`].
    pub program: PathBuf,
    /// Arguments before the ones [`child_main`] reads.
    pub args: Vec<OsString>,
    /// How long, and with how much memory, the child may compile.
    pub limits: CompileLimits,
}

/// How long, and with how much memory, one component may compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Wall-clock time from the start of the child to its answer.
    pub timeout: Duration,
    /// Bytes of memory the child may use (private writable memory on Linux).
    pub memory: u64,
}

impl CompileLimits {
    /// 120 s. Measured on two busy cores with a debug build of weld (its
    /// Cranelift built at opt-level 1): an 18 MB componentize-py component
    /// compiles in 26-41 s, so the 36 MB ones seen in practice in about
    /// 50-80 s, and a release build in a fraction of that; a component made
    /// to compile for minutes is still stopped within two.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
    /// 4 GiB. The 18 MB component above peaks at 360 MB resident and
    /// compiles under a 400 MB limit, so a 36 MB one needs about 0.75 GB:
    /// five times over, with room for one thread stack per core.
    pub const DEFAULT_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            memory: Self::DEFAULT_MEMORY,
        }
    }
}

/// Which limit stopped a compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileLimit {
    /// The time limit (wall clock, or the CPU-time backstop).
    Time(Duration),
    /// The memory limit, in bytes.
    Memory(u64),
}

impl std::fmt::Display for CompileLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Time(limit) => write!(
                f,
                "compiling it took longer than the {} s limit, so it was stopped (a component \
                 can be made to compile for minutes); if you trust it, raise the limit \
                 (weld: --compile-timeout SECONDS)",
                limit.as_secs_f64()
            ),
            Self::Memory(limit) => write!(
                f,
                "compiling it needed more memory than the {} MiB limit, so it was stopped; if \
                 you trust it, raise the limit (weld: --compile-memory-mib MIB)",
                limit / (1024 * 1024)
            ),
        }
    }
}

/// A compiled component and how much of it came from the incremental
/// compile cache.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// `Engine::precompile_component`'s output.
    pub(crate) artefact: Vec<u8>,
    /// Functions reused and compiled for this component, when the
    /// incremental cache was on.
    pub(crate) reuse: Option<IncrementalStats>,
}

/// Compiles `wasm` for `engine` (whose compatibility key is `engine_key`)
/// as `compiler` says, with the incremental compile cache `incremental`
/// (the engine's own for [`Compiler::InProcess`], handed to the compiler
/// process otherwise).
pub(crate) fn compile(
    engine: &Engine,
    engine_key: &str,
    metering: Metering,
    compiler: &Compiler,
    incremental: Option<&IncrementalStore>,
    wasm: &[u8],
) -> Result<Compiled, RuntimeError> {
    match compiler {
        Compiler::InProcess => {
            let before = incremental.map(IncrementalStore::stats);
            let artefact = engine
                .precompile_component(wasm)
                .map_err(RuntimeError::compile)?;
            let reuse = incremental.zip(before).map(|(store, before)| {
                flush(store);
                store.stats().since(before)
            });
            Ok(Compiled { artefact, reuse })
        }
        Compiler::Process(process) => process.compile(engine_key, metering, incremental, wasm),
    }
}

/// Writes what a compilation added to the store; a failure costs only
/// later reuse, so it is a warning.
fn flush(store: &IncrementalStore) {
    if let Err(error) = store.flush() {
        tracing::warn!(
            path = %store.path().unwrap_or(std::path::Path::new("")).display(),
            %error,
            "incremental compile cache not written; components compile as before, \
             without reusing this one's functions"
        );
    }
}

/// Exit statuses of [`child_main`] besides success.
const EXIT_USAGE: u8 = 40;
const EXIT_INVALID: u8 = 41;
const EXIT_MEMORY: u8 = 42;
/// What the child's stdout starts with on success, before the engine key
/// and a newline.
const HEADER: &[u8] = b"weld-artefact ";

fn metering_arg(metering: Metering) -> &'static str {
    match metering {
        Metering::Off => "off",
        Metering::Fuel => "fuel",
    }
}

/// The CPU-time backstop: the wall-clock limit on every core, plus a second.
fn cpu_seconds(timeout: Duration) -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    timeout
        .as_secs()
        .saturating_add(1)
        .saturating_mul(cores)
        .saturating_add(1)
}

impl CompilerProcess {
    fn compile(
        &self,
        engine_key: &str,
        metering: Metering,
        incremental: Option<&IncrementalStore>,
        wasm: &[u8],
    ) -> Result<Compiled, RuntimeError> {
        let io = |problem: String| {
            move |source| RuntimeError::Compiler {
                problem,
                source: Some(source),
            }
        };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .arg(metering_arg(metering))
            .arg(self.limits.memory.to_string())
            .arg(cpu_seconds(self.limits.timeout).to_string());
        // The store's key goes down the pipe, never on the command line
        // (which every local user can read).
        let mut key: &[u8] = &[];
        if let Some((store, path)) = incremental.and_then(|s| s.path().map(|p| (s, p))) {
            command.arg(store.cap().to_string()).arg(path);
            key = store.key().bytes();
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its log (and a panic or allocation-failure message) joins weld's.
            .stderr(Stdio::inherit())
            // A backtrace allocates while holding the lock the allocation-
            // failure handler takes: under the memory limit the child would
            // hang until the deadline instead of failing at once.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .spawn()
            .map_err(io(format!("could not start {}", self.program.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::compiler("its pipes could not be opened"));
        };
        // The artefact cannot be larger than the memory that produced it.
        let cap = self.limits.memory.saturating_add(1024 * 1024);
        let (sent, answer) = std::sync::mpsc::channel();
        let answer = std::thread::scope(|scope| {
            scope.spawn(move || {
                let _ = sent.send(exchange(stdin, stdout, [key, wasm], cap));
            });
            let answer = answer.recv_timeout(self.limits.timeout);
            if answer.is_err() {
                // Closes its pipes, so the exchange above ends too.
                let _ = child.kill();
            }
            answer
        });
        let status = child.wait().map_err(io("could not wait for it".into()))?;
        let output = match answer {
            Err(_) => {
                return Err(RuntimeError::CompileLimit(CompileLimit::Time(
                    self.limits.timeout,
                )));
            }
            Ok(output) => output,
        };
        self.outcome(status, output, engine_key)
    }

    fn outcome(
        &self,
        status: ExitStatus,
        output: std::io::Result<Vec<u8>>,
        engine_key: &str,
    ) -> Result<Compiled, RuntimeError> {
        use rustix::process::Signal;
        use std::os::unix::process::ExitStatusExt;
        let failed = RuntimeError::compiler;
        let time = RuntimeError::CompileLimit(CompileLimit::Time(self.limits.timeout));
        let memory = RuntimeError::CompileLimit(CompileLimit::Memory(self.limits.memory));
        if let Some(signal) = status.signal() {
            return Err(if signal == Signal::XCPU.as_raw() {
                time
            } else if signal == Signal::ABORT.as_raw() {
                // How Rust ends a process whose allocation failed.
                memory
            } else {
                failed(format!(
                    "it was killed by signal {signal} (perhaps the system ran out of memory)"
                ))
            });
        }
        let output = output.map_err(|source| RuntimeError::Compiler {
            problem: "reading its answer".into(),
            source: Some(source),
        })?;
        let text = || String::from_utf8_lossy(&output).trim().to_string();
        match status.code().and_then(|c| u8::try_from(c).ok()) {
            Some(0) => {}
            // What Wasmtime said in the child, as text: the one cause that
            // crosses a process boundary.
            Some(EXIT_INVALID) => {
                return Err(RuntimeError::Compile {
                    source: text().into(),
                });
            }
            Some(EXIT_MEMORY) => return Err(memory),
            Some(EXIT_USAGE) => {
                return Err(failed(format!("it refused its arguments: {}", text())));
            }
            _ => return Err(failed(format!("it ended with {status}; see the log above"))),
        }
        answer(&output, engine_key).ok_or_else(|| {
            failed(format!(
                "{} did not answer with an artefact for this engine ({engine_key}); it must be \
                 the same build of weld",
                self.program.display()
            ))
        })
    }
}

/// The artefact and the reuse counts in a successful child's output, if it
/// is for the engine `engine_key`: `weld-artefact KEY[ NAME=N…]\n` then the
/// artefact.
fn answer(output: &[u8], engine_key: &str) -> Option<Compiled> {
    let rest = output
        .strip_prefix(HEADER)?
        .strip_prefix(engine_key.as_bytes())?;
    let newline = rest.iter().take(256).position(|&b| b == b'\n')?;
    let (line, artefact) = (&rest[..newline], &rest[newline + 1..]);
    let reuse = if line.is_empty() {
        None
    } else {
        let line = std::str::from_utf8(line.strip_prefix(b" ")?).ok()?;
        let mut stats = IncrementalStats::default();
        for word in line.split(' ') {
            let (name, count) = word.split_once('=')?;
            let count: u64 = count.parse().ok()?;
            match name {
                "hits" => stats.hits = count,
                "misses" => stats.misses = count,
                "rejected" => stats.rejected = count,
                "stored" => stats.stored = count,
                _ => {}
            }
        }
        Some(stats)
    };
    Some(Compiled {
        artefact: artefact.to_vec(),
        reuse,
    })
}

/// Sends `input` (the store's key, if any, and the component) and reads the
/// answer (at most `cap` bytes). A child that stops reading early (it
/// failed) is not an error here: its exit status says what happened.
fn exchange(
    mut stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    input: [&[u8]; 2],
    cap: u64,
) -> std::io::Result<Vec<u8>> {
    let _ = input.iter().try_for_each(|part| stdin.write_all(part));
    drop(stdin);
    let mut output = Vec::new();
    stdout
        .take(cap.saturating_add(1))
        .read_to_end(&mut output)?;
    if output.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "its answer is over {cap} bytes"
        )));
    }
    Ok(output)
}

/// The child's side: `args` are what [`CompilerProcess`] put after its own
/// (metering, memory bytes, CPU seconds, and with the incremental compile
/// cache its cap in bytes and its file). Limits itself, reads a component
/// from stdin (after the store's 32-byte key, with the cache), compiles it
/// for the engine `metering` names and writes the artefact to stdout.
pub fn child_main(args: &[OsString]) -> ExitCode {
    let parsed = match args {
        [metering, memory, cpu] => parse_args(metering, memory, cpu).map(|p| (p, None)),
        [metering, memory, cpu, cap, store] => {
            parse_args(metering, memory, cpu).and_then(|parsed| {
                let cap: u64 = cap.to_str()?.parse().ok()?;
                Some((parsed, Some((cap, PathBuf::from(store)))))
            })
        }
        _ => None,
    };
    let Some(((metering, memory, cpu), incremental)) = parsed else {
        println!(
            "expected: off|fuel MEMORY_BYTES CPU_SECONDS [CAP_BYTES STORE_FILE], got {args:?}"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    if let Err(error) = limit_self(memory, cpu) {
        println!("could not set its limits: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    report_resource_panics_as_memory();
    let mut stdin = std::io::stdin().lock();
    let mut store = None;
    if let Some((cap, _)) = &incremental {
        let mut key = [0u8; 32];
        if let Err(error) = stdin.read_exact(&mut key) {
            println!("reading the store's key: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
        store = Some(Arc::new(IncrementalStore::new(CacheKey::new(key), *cap)));
    }
    let mut wasm = Vec::new();
    if let Err(error) = stdin.read_to_end(&mut wasm) {
        println!("reading the component: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    let engine = match compile_engine_with(metering, store.clone()) {
        Ok(engine) => engine,
        Err(error) => {
            println!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let engine_key = cache::engine_key(&engine);
    if let (Some(store), Some((_, path))) = (&store, incremental) {
        store.bind(path, engine_key.clone());
    }
    let artefact = match engine.precompile_component(&wasm) {
        Ok(artefact) => artefact,
        Err(error) if out_of_memory(&error) => return ExitCode::from(EXIT_MEMORY),
        Err(error) => {
            print!("{error:#}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let mut line = engine_key;
    if let Some(store) = &store {
        flush(store);
        let stats = store.stats();
        line.push_str(&format!(
            " hits={} misses={} rejected={} stored={}",
            stats.hits, stats.misses, stats.rejected, stats.stored
        ));
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(HEADER)
        .and_then(|()| out.write_all(line.as_bytes()))
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.write_all(&artefact))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // Nobody is listening any more; nothing to say to anyone.
        Err(_) => ExitCode::FAILURE,
    }
}

fn parse_args(
    metering: &OsString,
    memory: &OsString,
    cpu: &OsString,
) -> Option<(Metering, u64, u64)> {
    let metering = match metering.to_str()? {
        "off" => Metering::Off,
        "fuel" => Metering::Fuel,
        _ => return None,
    };
    Some((
        metering,
        memory.to_str()?.parse().ok()?,
        cpu.to_str()?.parse().ok()?,
    ))
}

/// The engine the parent would build for `metering`, minus the pool.
#[cfg(test)]
pub(crate) fn compile_engine(metering: Metering) -> Result<Engine, RuntimeError> {
    compile_engine_with(metering, None)
}

/// The engine the parent would build for `metering`, minus the pool, with
/// Cranelift using `store` (which changes no compiled code, so neither the
/// engine's compatibility key).
fn compile_engine_with(
    metering: Metering,
    store: Option<Arc<IncrementalStore>>,
) -> Result<Engine, RuntimeError> {
    let mut config = engine_config(crate::capacity::PoolShape::new(1), metering)?;
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    if let Some(store) = store {
        config
            .enable_incremental_compilation(store as Arc<dyn wasmtime::CacheStore>)
            .map_err(RuntimeError::engine)?;
    }
    Engine::new(&config).map_err(RuntimeError::engine)
}

fn limit_self(memory: u64, cpu: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    #[cfg(target_os = "linux")]
    let resource = Resource::Data;
    #[cfg(not(target_os = "linux"))]
    let resource = Resource::As;
    let exactly = |n| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    setrlimit(resource, exactly(memory))?;
    setrlimit(Resource::Cpu, exactly(cpu))?;
    #[cfg(target_os = "linux")]
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(())
}

/// Under a memory limit a failed allocation can also surface as a panic
/// (a thread that cannot get its stack, an `mmap` that fails): those end the
/// child as over the memory limit. The check reads the payload without
/// allocating, and the message printed is static: an allocation failing
/// inside the default hook would deadlock on its lock instead of ending.
fn report_resource_panics_as_memory() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("");
        let resources = [
            "os error 12",
            "Cannot allocate memory",
            "memory allocation",
            "failed to spawn thread",
            "ThreadPoolBuildError",
        ];
        if resources.iter().any(|r| message.contains(r)) {
            eprintln!("weld compiler process: out of memory under its limit");
            std::process::exit(i32::from(EXIT_MEMORY));
        }
        default(info);
    }));
}

fn out_of_memory(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| {
            e.kind() == std::io::ErrorKind::OutOfMemory || e.raw_os_error() == Some(12)
        })
    }) || format!("{error:?}").contains("Cannot allocate memory")
}

#[cfg(test)]
mod tests;
