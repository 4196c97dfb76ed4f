//! One module per subcommand. The commands parse and print; what they do
//! is `weld-host`'s (install, load, invoke, the policy writer, audit).

/// `println!` that ends the process quietly when stdout is closed (`weld list
/// | head`), instead of panicking on the broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(anyhow::Error::new(error).context("writing to stdout"));
        }
    }};
}

mod add;
mod audit;
mod cache;
mod call;
mod distribute;
mod docs;
mod inspect;
mod list;
mod new;
mod policy;
mod progress;
mod secret;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use weld_host::Host;
use weld_runtime::{
    CacheKey, CallLimits, CompileLimits, Compiler, CompilerProcess, Runtime, RuntimeConfig,
};
use weld_store::Store;

use crate::cli::{self, Cli, Command, DocsCommand};
use crate::dirs;

/// Exit status for `weld call` when the tool itself reported an error.
const EXIT_TOOL_ERROR: u8 = 3;

/// What every command may open: the state, the compile cache, the base
/// directory, as the global flags say.
pub(crate) struct Env {
    dirs: cli::Dirs,
    registries: cli::RegistryArgs,
    compiler: Compiler,
    incremental_cache_bytes: u64,
}

impl Env {
    /// The state directory.
    fn state(&self) -> Result<Store> {
        let dir = dirs::state_dir(self.dirs.state_dir.clone())?;
        Store::open(&dir).with_context(|| format!("opening the state directory {}", dir.display()))
    }

    /// A runtime with `max_instances` slots. With the state's key the
    /// cache's artefacts are trusted across runs; without a store
    /// (`weld inspect`) nothing cached is.
    fn runtime(
        &self,
        store: Option<&Store>,
        max_instances: u32,
        memory_budget_mib: Option<u64>,
    ) -> Result<Runtime> {
        let cache_dir = dirs::cache_dir(self.dirs.cache_dir.clone())?;
        let mut config = RuntimeConfig::new(cache_dir.clone());
        config.max_instances = max_instances;
        if let Some(mib) = memory_budget_mib {
            config.memory_budget = mib.saturating_mul(1024 * 1024);
        }
        config.compiler = self.compiler.clone();
        config.incremental_cache_bytes = self.incremental_cache_bytes;
        if let Some(store) = store {
            config.cache_key = Some(CacheKey::new(store.cache_key()?));
        }
        Runtime::new(&config)
            .with_context(|| format!("opening the compile cache {}", cache_dir.display()))
    }

    /// The state served by a runtime of `max_instances` slots.
    fn host(
        &self,
        max_instances: u32,
        memory_budget_mib: Option<u64>,
        limits: CallLimits,
    ) -> Result<Host> {
        let store = self.state()?;
        let runtime = self.runtime(Some(&store), max_instances, memory_budget_mib)?;
        Ok(Host::new(store, Arc::new(runtime), limits))
    }

    /// weld.toml, read and checked.
    fn config(&self) -> Result<crate::config::Config> {
        let mut config = crate::config::load(self.dirs.config.as_deref())?;
        config
            .dist
            .insecure_registries
            .extend(self.registries.insecure.iter().cloned());
        Ok(config)
    }

    /// Where the lock file is: --lock, else weld.lock beside weld.toml.
    fn lock_path(&self) -> Result<PathBuf> {
        if let Some(lock) = &self.dirs.lock {
            return Ok(lock.clone());
        }
        let config = match &self.dirs.config {
            Some(config) => config.clone(),
            None => crate::config::default_path()?,
        };
        Ok(config.with_file_name("weld.lock"))
    }

    /// Writes the lock file of what `store` has installed now.
    fn write_lock(&self, store: &Store) -> Result<()> {
        let path = self.lock_path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        weld_host::lockfile::Lock::write_state(store, &path)
            .with_context(|| format!("writing the lock file {}", path.display()))?;
        Ok(())
    }

    /// The host a person changes policies through: default limits, and
    /// `fs://./` meaning --base-dir, else the directory they run the
    /// command in.
    fn granting_host(&self) -> Result<Host> {
        let base = base_dir(self.dirs.base_dir.clone(), true)?;
        Ok(self.host(1, None, CallLimits::default())?.with_base(base))
    }
}

/// An error and its causes on one line, each cause once: weld's library
/// errors often say their cause in their own message too (so that a message
/// shown alone is complete), and a cause already said is not repeated.
pub fn describe(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let Cli {
        dirs,
        compile,
        registries,
        command,
    } = cli;
    let env = Env {
        compiler: compiler(&compile)?,
        dirs: dirs.with_environment(),
        registries,
        incremental_cache_bytes: compile.incremental_cache_mib.saturating_mul(1024 * 1024),
    };
    match command {
        Command::CompileWorker { .. } => {
            bail!("`weld __compile` is weld's own compiler process; it is not for people")
        }
        Command::Serve(args) => serve::serve(&env, args).await,
        Command::Add(args) => add::add(&env, &args).await,
        Command::Sync(args) => distribute::sync(&env, &args).await,
        Command::Update(args) => distribute::update(&env, &args).await,
        Command::Lock => {
            env.write_lock(&env.state()?)?;
            outln!("wrote {}", env.lock_path()?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { output } => distribute::keygen(&output),
        Command::Sign(args) => distribute::sign(&env, &args).await,
        Command::Publish(args) => distribute::publish(&env, &args).await,
        Command::Cache(command) => cache::run(&env, &command),
        Command::Remove { name } => {
            let store = env.state()?;
            let removed = store.remove(&name)?;
            outln!(
                "removed `{name}` ({}), with its policy and secrets",
                removed.digest
            );
            env.write_lock(&store)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => {
            list::list(&env.host(1, None, CallLimits::default())?, json).await
        }
        Command::Inspect {
            path,
            name,
            json,
            list,
        } => {
            let runtime = env.runtime(None, 1, None)?;
            inspect::inspect(&runtime, &path, name.as_deref(), json, list).await
        }
        Command::Call(args) => {
            let limits = limits(&args.limits)?;
            let host = env
                .host(4, args.limits.memory_budget_mib, limits)?
                .with_files(args.components.clone());
            call::call(&host, &args).await
        }
        Command::Policy(cli::PolicyCommand::Show { name }) => policy::show(&env.state()?, &name),
        Command::Policy(cli::PolicyCommand::Set { name, file }) => {
            policy::set(&env.granting_host()?, &name, &file)
        }
        Command::Policy(cli::PolicyCommand::Validate { file }) => policy::validate(&file),
        Command::Grant(change) => policy::change(
            &env.granting_host()?,
            change,
            weld_host::policy_admin::Direction::Grant,
        ),
        Command::Revoke(change) => policy::change(
            &env.granting_host()?,
            change,
            weld_host::policy_admin::Direction::Revoke,
        ),
        Command::Secret(command) => secret::run(&env.state()?, command),
        Command::Audit(args) => audit::show(&env.state()?, &args),
        Command::Docs(DocsCommand::Embed {
            component,
            wit,
            output,
        }) => docs::embed(&component, &wit, output.as_deref()),
        Command::New(args) => new::new(&args),
    }
}

fn limits(args: &cli::Limits) -> Result<CallLimits> {
    let max = weld_policy::MAX_TIMEOUT.as_secs_f64();
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= max) {
        bail!("--timeout must be a positive number of seconds, at most {max} (24 hours)");
    }
    Ok(CallLimits {
        memory: args.memory_mib.saturating_mul(1024 * 1024),
        timeout: Duration::from_secs_f64(args.timeout),
        ..CallLimits::default()
    })
}

/// Components are compiled by weld itself, run again as its compiler
/// process (`weld __compile`), within the limits of `args`.
fn compiler(args: &cli::CompileArgs) -> Result<Compiler> {
    let max = weld_policy::MAX_TIMEOUT.as_secs_f64();
    let timeout = args.compile_timeout;
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= max) {
        bail!("--compile-timeout must be a positive number of seconds, at most {max} (24 hours)");
    }
    if args.compile_memory_mib == 0 {
        bail!("--compile-memory-mib must be at least 1");
    }
    // The running executable itself, even if its file was replaced since
    // (an upgrade): the compiler must be this very build, or its artefacts
    // would not fit this engine.
    let program = if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().context("finding weld's own executable")?
    };
    Ok(Compiler::Process(CompilerProcess {
        program,
        args: vec!["__compile".into()],
        limits: CompileLimits {
            timeout: Duration::from_secs_f64(timeout),
            memory: args.compile_memory_mib.saturating_mul(1024 * 1024),
        },
    }))
}

/// The base directory `fs://./` URIs are resolved against when granted:
/// `given`, else (when `or_current`) the current directory; absolute, real
/// (symlinks resolved), and a directory.
fn base_dir(given: Option<PathBuf>, or_current: bool) -> Result<Option<PathBuf>> {
    let dir = match given {
        Some(dir) => dir,
        None if or_current => std::env::current_dir().context("reading the current directory")?,
        None => return Ok(None),
    };
    let real = std::fs::canonicalize(&dir)
        .with_context(|| format!("the base directory {} cannot be used", dir.display()))?;
    if !real.is_dir() {
        bail!("the base directory {} is not a directory", dir.display());
    }
    Ok(Some(real))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("the policy cannot be enforced: {0}")]
    struct SaysItsCause(#[source] std::io::Error);

    #[test]
    fn an_error_chain_is_one_line_and_says_each_cause_once() {
        let io = || std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(SaysItsCause(io())).context("weld add failed");
        assert_eq!(
            describe(&error),
            "weld add failed: the policy cannot be enforced: disk on fire"
        );
        let error = anyhow::Error::new(io()).context("reading x");
        assert_eq!(describe(&error), "reading x: disk on fire");
    }
}
