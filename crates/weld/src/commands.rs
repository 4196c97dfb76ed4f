//! One function per subcommand.

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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use weld_policy::RealFileSystem;
use weld_runtime::{
    CacheKey, CallLimits, CompileLimits, Compiler, CompilerProcess, Metering, Runtime,
    RuntimeConfig,
};
use weld_server::catalog::{self, Catalog};
use weld_server::load::{self, load_all};
use weld_server::manage::{Capability, Direction, Policies, PolicyChange};
use weld_server::sandbox::ToolPolicy;
use weld_server::{
    Audit, AuditFailure, AuditRecord, BuiltinOptions, HttpLimits, HttpOptions, Management,
    Registry, ServerOptions, WeldServer,
};
use weld_store::{ComponentDocs, Store, docs};

use crate::cli::{self, Cli, Command, DocsCommand};
use crate::dirs;

/// Exit status for `weld call` when the tool itself reported an error.
const EXIT_TOOL_ERROR: u8 = 3;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let Cli {
        dirs: d,
        compile,
        command,
    } = cli;
    let state = || -> Result<Store> {
        let dir = dirs::state_dir(d.state_dir.clone())?;
        Store::open(&dir).with_context(|| format!("opening the state directory {}", dir.display()))
    };
    let compiler = compiler(&compile)?;
    // With the state's key the cache's artefacts are trusted across runs;
    // without a store (`weld inspect`) nothing cached is.
    let runtime_for = |store: Option<&Store>,
                       max_instances: u32,
                       memory_budget_mib: Option<u64>|
     -> Result<Runtime> {
        let cache_dir = dirs::cache_dir(d.cache_dir.clone())?;
        let mut config = RuntimeConfig::new(cache_dir.clone());
        config.max_instances = max_instances;
        if let Some(mib) = memory_budget_mib {
            config.memory_budget = mib.saturating_mul(1024 * 1024);
        }
        config.compiler = compiler.clone();
        if let Some(store) = store {
            config.cache_key = Some(CacheKey::new(store.cache_key()?));
        }
        Runtime::new(&config)
            .with_context(|| format!("opening the compile cache {}", cache_dir.display()))
    };
    let state_and_runtime =
        |max_instances: u32, memory_budget_mib: Option<u64>| -> Result<(Store, Runtime)> {
            let store = state()?;
            let runtime = runtime_for(Some(&store), max_instances, memory_budget_mib)?;
            Ok((store, runtime))
        };
    // Where a person granting `fs://./` means: --base-dir, else the
    // directory they run the command in.
    let granting_base = || base_dir(d.base_dir.clone(), true);
    match command {
        Command::CompileWorker { .. } => {
            bail!("`weld __compile` is weld's own compiler process; it is not for people")
        }
        Command::Serve(args) => {
            let base = base_dir(d.base_dir.clone(), false)?;
            let (store, runtime) =
                state_and_runtime(args.max_instances, args.limits.memory_budget_mib)?;
            tracing::info!(
                max_instances = args.max_instances,
                memory_budget_mib = runtime.memory_budget() / (1024 * 1024),
                "calls beyond the instance slots or the memory budget wait"
            );
            serve(&store, Arc::new(runtime), args, base).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Add(args) => {
            let (store, runtime) = state_and_runtime(1, None)?;
            add(&store, Arc::new(runtime), &args, granting_base()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { name } => {
            let removed = state()?.remove(&name)?;
            outln!("removed `{name}` ({})", removed.digest);
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => {
            let (store, runtime) = state_and_runtime(1, None)?;
            list(&store, &runtime, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { path, name, json } => {
            inspect(&runtime_for(None, 1, None)?, &path, name.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(args) => {
            let (store, runtime) = state_and_runtime(4, args.limits.memory_budget_mib)?;
            call(&store, &runtime, args).await
        }
        Command::Policy(cli::PolicyCommand::Show { name }) => {
            let store = state()?;
            store
                .index()?
                .components
                .get(&name)
                .ok_or_else(|| weld_store::StoreError::NotInstalled(name.clone()))?;
            match store.read_policy(&name)? {
                Some(text) => {
                    outln!("{}", text.trim_end());
                    // What each storage rule was granted as: the part of
                    // the policy the text alone cannot say.
                    match load::stored_policy(&store, &name) {
                        Ok(Some(stored)) if !stored.pins.is_empty() => {
                            outln!("# storage rules, as granted (pinned real paths):");
                            for pin in stored.pins.as_slice() {
                                let rule = if pin.is_allow() { "allow" } else { "deny" };
                                outln!("#   {rule} {}", pin.describe());
                            }
                        }
                        Ok(_) => {}
                        Err(error) => outln!("# {}", one_line(&error.to_string())),
                    }
                }
                None => outln!(
                    "# `{name}` has no policy: it may use nothing but the clocks and randomness"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(cli::PolicyCommand::Set { name, file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let policy = weld_policy::Policy::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}:{e}", file.display()))?;
            let (store, runtime) = state_and_runtime(1, None)?;
            let policies = policies(store, runtime, granting_base()?);
            let result = policies.set(&name, &policy).map_err(anyhow::Error::from);
            let change = format!("set policy from {}", shown_path(&file));
            audit_cli_change(&policies.store, "weld policy set", &name, change, &result);
            let changed = result?;
            outln!("policy of `{name}` updated; a running weld applies it within a second");
            print_pins(&changed.pins)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Grant(change) => {
            let (store, runtime) = state_and_runtime(1, None)?;
            let policies = policies(store, runtime, granting_base()?);
            change_policy(&policies, change, Direction::Grant)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke(change) => {
            let (store, runtime) = state_and_runtime(1, None)?;
            let policies = policies(store, runtime, granting_base()?);
            change_policy(&policies, change, Direction::Revoke)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(cli::PolicyCommand::Validate { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match weld_policy::Policy::parse(&text) {
                Ok(policy) => {
                    outln!("{}", policy.to_yaml().trim_end());
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("{}:{error}", file.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Secret(cli::SecretCommand::Set { name, key }) => {
            let value = read_secret_value(&key)?;
            state()?.set_secret(&name, &key, Some(&value))?;
            outln!(
                "secret `{key}` of `{name}` set ({} characters); a running weld applies it within a second",
                value.chars().count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Secret(cli::SecretCommand::Remove { name, key }) => {
            state()?.set_secret(&name, &key, None)?;
            outln!("secret `{key}` of `{name}` removed");
            Ok(ExitCode::SUCCESS)
        }
        Command::Secret(cli::SecretCommand::List { name }) => {
            for (key, value) in state()?.secrets(&name)? {
                outln!("{key}  ({} characters)", value.chars().count());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => {
            show_audit(&state()?, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs(DocsCommand::Embed {
            component,
            wit,
            output,
        }) => {
            embed_docs(&component, &wit, output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
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

fn build_catalog(
    store: &Store,
    runtime: &Runtime,
    extra: &[PathBuf],
    limits: CallLimits,
) -> Result<Catalog> {
    let catalog = load_all(store, runtime, extra, limits, load::Compiling::Now)?.into_catalog();
    for skipped in catalog.skipped() {
        tracing::warn!(
            component = %skipped.component,
            function = %skipped.function,
            reason = %skipped.reason,
            "function not served as a tool"
        );
    }
    Ok(catalog)
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

async fn serve(
    store: &Store,
    runtime: Arc<Runtime>,
    args: cli::ServeArgs,
    base: Option<PathBuf>,
) -> Result<()> {
    let limits = limits(&args.limits)?;
    let catalog = build_catalog(store, &runtime, &args.components, limits)?;
    tracing::info!(tools = catalog.tools().len(), "tools loaded");
    let registry = Arc::new(Registry::new(catalog));
    let audit = open_audit(store, args.audit_failure.into())?;
    let mut server = WeldServer::new(Arc::clone(&registry), audit.clone());
    if !args.no_builtin_tools {
        if args.allow_model_grants {
            tracing::warn!(
                "--allow-model-grants: grants asked for over MCP are applied without asking \
                 a person; the model can widen any tool's access"
            );
        }
        let policies = Policies {
            store: store.clone(),
            runtime: Arc::clone(&runtime),
            base: base.clone(),
            limits,
        };
        match &base {
            Some(base) => {
                tracing::info!(base = %base.display(), "fs://./ URIs asked for over MCP are resolved against the base directory")
            }
            None => tracing::debug!("no --base-dir: fs://./ URIs asked for over MCP are refused"),
        }
        let options = BuiltinOptions {
            allow_model_grants: args.allow_model_grants,
        };
        let management =
            Management::new(policies, options).context("drawing a key for grant approvals")?;
        server = server.with_management(Arc::new(management));
    }
    let options = ServerOptions {
        max_request_bytes: args.max_request_bytes,
    };
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone())?;
    tokio::spawn(load::watch_state(
        store.clone(),
        runtime,
        args.components.clone(),
        limits,
        registry,
        shutdown.clone(),
    ));
    match args.http {
        None => weld_server::serve_stdio(server, &options, shutdown).await?,
        Some(addr) => {
            let bearer_token = match &args.token_file {
                Some(path) => Some(read_token(path)?),
                None => None,
            };
            if !addr.ip().is_loopback() && bearer_token.is_none() {
                bail!(
                    "refusing to serve {addr} without authentication: anyone who can reach it \
                     could run every tool. Pass --token-file FILE (clients then send \
                     `Authorization: Bearer <token>`), or bind 127.0.0.1"
                );
            }
            if !addr.ip().is_loopback() && args.allowed_hosts.is_empty() {
                tracing::warn!(
                    %addr,
                    "bound to a non-loopback address but no --allow-host given: only requests \
                     with a loopback Host header will be accepted"
                );
            }
            let http = HttpOptions {
                addr,
                allowed_hosts: args.allowed_hosts,
                allowed_origins: args.allowed_origins,
                bearer_token,
                limits: http_limits(&args.http_limits)?,
            };
            weld_server::serve_http(server, &options, &http, shutdown, |bound| {
                tracing::info!(url = %format!("http://{bound}/mcp"), "serving MCP over HTTP");
            })
            .await?;
        }
    }
    audit.flush(Duration::from_secs(5));
    Ok(())
}

fn http_limits(args: &cli::HttpLimitArgs) -> Result<HttpLimits> {
    let seconds = |value: f64, flag: &str| {
        let max = weld_policy::MAX_TIMEOUT.as_secs_f64();
        if value.is_finite() && value > 0.0 && value <= max {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(anyhow::anyhow!(
                "{flag} must be a positive number of seconds, at most {max} (24 hours)"
            ))
        }
    };
    Ok(HttpLimits {
        max_connections: args.max_connections as usize,
        header_timeout: seconds(args.header_timeout, "--header-timeout")?,
        body_timeout: seconds(args.body_timeout, "--body-timeout")?,
        max_buffered_request_bytes: args.max_buffered_request_bytes,
    })
}

fn open_audit(store: &Store, failure: AuditFailure) -> Result<Audit> {
    weld_server::audit::survive_file_size_limit();
    let path = store.root().join("audit.jsonl");
    Ok(Audit::to_file(&path, failure)?)
}

/// The first line of `path`, which must not be empty or short.
fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        bail!(
            "the token in {} is shorter than 16 characters; use a long random one \
             (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(token)
}

fn spawn_signal_handler(shutdown: CancellationToken) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        shutdown.cancel();
    });
    Ok(())
}

fn add(
    store: &Store,
    runtime: Arc<Runtime>,
    args: &cli::AddArgs,
    base: Option<PathBuf>,
) -> Result<()> {
    let cannot = || format!("{} cannot be installed", args.path.display());
    let file = load::read_component_file(&args.path, args.name.as_deref()).with_context(cannot)?;
    if !args.force && store.index()?.components.contains_key(&file.name) {
        return Err(weld_store::StoreError::AlreadyInstalled(file.name).into());
    }
    // Described from its types before anything is compiled: a component
    // whose tools exceed the size caps is refused with the reason, without
    // spending the compile on it.
    let inspection = runtime.inspect(&file.bytes).with_context(cannot)?;
    catalog::inspected_tools(&file.name, &file.docs, &inspection)
        .map_err(|refused| anyhow::anyhow!("{}", refusal(&refused)))
        .with_context(cannot)?;
    // Compile (and link) before touching the state: a component weld cannot
    // run is never installed. It runs deny-all, so unmetered, until a
    // policy says otherwise.
    let loaded = runtime
        .compile(file.digest.hex(), Metering::Off, &file.bytes)
        .with_context(cannot)?;
    let proposed = proposed_policy(args)?;
    let mut proposed_pins = weld_policy::Pins::default();
    if let Some((path, policy)) = &proposed {
        // An offered policy weld could not enforce (or whose paths lead
        // through a symlink, so that the person would read one path and
        // grant another) is refused before anything is installed, so
        // accepting it later cannot fail.
        let refused = || format!("{} is refused", path.display());
        let (_, pins) = policy
            .pin(
                base.as_deref(),
                &weld_policy::Pins::default(),
                &RealFileSystem,
            )
            .with_context(refused)
            .with_context(cannot)?;
        for pin in pins.as_slice().iter().filter(|p| p.is_allow()) {
            weld_server::manage::refuse_symlink(pin)
                .with_context(refused)
                .with_context(cannot)?;
        }
        let stored = load::StoredPolicy {
            policy: policy.clone(),
            pins: pins.clone(),
            text: String::new(),
        };
        load::compile_policy(
            store,
            &file.name,
            &stored,
            loaded.imports(),
            CallLimits::default(),
        )
        .with_context(refused)
        .with_context(cannot)?;
        proposed_pins = pins;
    }
    let source = format!("file:{}", absolute(&args.path).display());
    let installed = store.install(
        &file.name,
        &file.bytes,
        &source,
        file.docs.clone(),
        args.force,
    )?;
    let imports = loaded.imports().to_vec();
    let catalog = Catalog::build(vec![weld_server::ComponentEntry {
        name: file.name.clone(),
        digest: installed.digest.to_string(),
        docs: file.docs,
        loaded: Arc::new(loaded),
        policy: ToolPolicy::deny_all(CallLimits::default()),
    }]);
    outln!("installed `{}` ({})", file.name, installed.digest);
    print_tools(&catalog)?;
    for import in &imports {
        outln!("  imports {import}");
    }
    let Some((path, policy)) = proposed else {
        outln!("no policy: the tool may use nothing but the clocks and randomness");
        return Ok(());
    };
    outln!("\nthe component proposes this policy ({}):", path.display());
    for line in policy.to_yaml().lines() {
        outln!("  {line}");
    }
    print_pins(&proposed_pins)?;
    if args.accept_policy || confirm("apply it?")? {
        // The one policy writer: it pins the storage rules again under the
        // state lock and loads the component on the engine the policy
        // needs (compiling it for fuel metering when it sets fuel), so the
        // first `weld serve` finds it in the cache.
        let policies = policies(store.clone(), runtime, base);
        let written = policies
            .set(&file.name, &policy)
            .map_err(anyhow::Error::from)
            .context("the policy was NOT applied");
        let how = if args.accept_policy {
            "accepted with --accept-policy"
        } else {
            "confirmed"
        };
        audit_cli_change(
            store,
            "weld add",
            &file.name,
            format!("set policy from {} ({how})", shown_path(&path)),
            &written,
        );
        written?;
        outln!("policy applied");
    } else {
        outln!(
            "policy NOT applied; the tool runs without it. To apply it later: weld policy set {} {}",
            file.name,
            path.display()
        );
    }
    Ok(())
}

/// The policy offered with the component being added, parsed.
fn proposed_policy(args: &cli::AddArgs) -> Result<Option<(PathBuf, weld_policy::Policy)>> {
    let path = match &args.policy {
        Some(path) => path.clone(),
        None => {
            let beside = args.path.with_extension("policy.yaml");
            if !beside.exists() {
                return Ok(None);
            }
            beside
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let policy =
        weld_policy::Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
    Ok(Some((path, policy)))
}

/// Asks a yes/no question on the terminal; no terminal means no.
fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn print_tools(catalog: &Catalog) -> Result<()> {
    for tool in catalog.tools() {
        let description = tool.description.as_deref().unwrap_or("");
        let first_line = description.lines().next().unwrap_or("");
        outln!("  tool {}: {first_line}", tool.name);
    }
    for skipped in catalog.skipped() {
        outln!("  not a tool: {} ({})", skipped.function, skipped.reason);
    }
    Ok(())
}

fn list(store: &Store, runtime: &Runtime, as_json: bool) -> Result<()> {
    let index = store.index()?;
    // Loaded as `weld serve` loads them, so the listing says exactly which
    // components are served and why the others are not.
    let loaded = load_all(
        store,
        runtime,
        &[],
        CallLimits::default(),
        load::Compiling::Now,
    )?;
    let imports: std::collections::HashMap<String, Vec<String>> = loaded
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.loaded.imports().to_vec()))
        .collect();
    let catalog = loaded.into_catalog();
    let mut out = Vec::new();
    for (name, installed) in &index.components {
        let tools: Vec<Value> = catalog
            .tools()
            .iter()
            .filter(|t| catalog.get(&t.name).is_some_and(|e| &e.component == name))
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
        let skipped: Vec<Value> = catalog
            .skipped()
            .iter()
            .filter(|s| &s.component == name)
            .map(|s| json!({ "function": s.function, "reason": s.reason }))
            .collect();
        let problem = catalog
            .disabled()
            .iter()
            .find(|d| &d.component == name)
            .map(|d| d.reason.clone());
        out.push(json!({
            "name": name,
            "digest": installed.digest,
            "size": installed.size,
            "source": installed.source,
            "installed_at": installed.installed_at,
            "tools": tools,
            "not_tools": skipped,
            "imports": imports.get(name).cloned().unwrap_or_default(),
            "error": problem,
        }));
    }
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if out.is_empty() {
        outln!("no components installed (add one with `weld add PATH`)");
    }
    for component in &out {
        outln!(
            "{} {} ({} bytes, from {})",
            component["name"].as_str().unwrap_or(""),
            component["digest"].as_str().unwrap_or(""),
            component["size"],
            component["source"].as_str().unwrap_or("")
        );
        if let Some(error) = component["error"].as_str() {
            outln!(
                "  DISABLED, none of its tools is served: {}",
                one_line(error)
            );
        }
        print_listing(component)?;
    }
    Ok(())
}

fn print_listing(component: &Value) -> Result<()> {
    for tool in component["tools"].as_array().into_iter().flatten() {
        let description = tool["description"].as_str().unwrap_or("");
        outln!(
            "  tool {}: {}",
            tool["name"].as_str().unwrap_or(""),
            description.lines().next().unwrap_or("")
        );
    }
    for skipped in component["not_tools"].as_array().into_iter().flatten() {
        outln!(
            "  not a tool: {} ({})",
            skipped["function"].as_str().unwrap_or(""),
            skipped["reason"].as_str().unwrap_or("")
        );
    }
    for import in component["imports"].as_array().into_iter().flatten() {
        outln!("  imports {}", import.as_str().unwrap_or(""));
    }
    Ok(())
}

/// Why a component is refused, for a person.
fn refusal(refused: &catalog::Skipped) -> String {
    if refused.function.is_empty() {
        refused.reason.clone()
    } else {
        format!("tool `{}`: {}", refused.function, refused.reason)
    }
}

fn inspect(runtime: &Runtime, path: &Path, name: Option<&str>, as_json: bool) -> Result<()> {
    let file = load::read_component_file(path, name)?;
    // Described from its types alone: nothing of an untrusted file is
    // compiled (see `Runtime::inspect`).
    let inspection = runtime
        .inspect(&file.bytes)
        .with_context(|| format!("inspecting {}", path.display()))?;
    let (tools, not_tools, refused) =
        match catalog::inspected_tools(&file.name, &file.docs, &inspection) {
            Ok(built) => (
                built
                    .tools
                    .iter()
                    .map(|t| serde_json::to_value(&t.tool))
                    .collect::<Result<Vec<_>, _>>()?,
                built
                    .skipped
                    .iter()
                    .map(|s| json!({ "function": s.function, "reason": s.reason }))
                    .collect::<Vec<_>>(),
                None,
            ),
            Err(refused) => (Vec::new(), Vec::new(), Some(refusal(&refused))),
        };
    let report = json!({
        "name": file.name,
        "digest": file.digest,
        "size": file.bytes.len(),
        "tools": tools,
        "not_tools": not_tools,
        "imports": inspection.imports,
        "loadable": inspection.link_error.is_none() && refused.is_none(),
        "link_error": inspection.link_error,
        "refused": refused,
    });
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!("{} {} ({} bytes)", file.name, file.digest, file.bytes.len());
    if let Some(error) = &inspection.link_error {
        outln!("  cannot run here: {error}");
    }
    if let Some(reason) = &refused {
        outln!("  would be refused: {reason}");
    }
    for tool in &tools {
        outln!("\ntool {}", tool["name"].as_str().unwrap_or(""));
        if let Some(description) = tool["description"].as_str() {
            for line in description.lines() {
                outln!("  {line}");
            }
        }
        outln!("  input:  {}", tool["inputSchema"]);
        if !tool["outputSchema"].is_null() {
            outln!("  output: {}", tool["outputSchema"]);
        }
    }
    if !not_tools.is_empty() {
        outln!();
    }
    for skipped in &not_tools {
        outln!(
            "not a tool: {} ({})",
            skipped["function"].as_str().unwrap_or(""),
            skipped["reason"].as_str().unwrap_or("")
        );
    }
    outln!("\nimports (the capabilities it will ask for):");
    if inspection.imports.is_empty() {
        outln!("  none");
    }
    for import in &inspection.imports {
        outln!("  {import}");
    }
    Ok(())
}

async fn call(store: &Store, runtime: &Runtime, args: cli::CallArgs) -> Result<ExitCode> {
    let arguments: Value = serde_json::from_str(&args.arguments)
        .with_context(|| format!("the arguments are not valid JSON: {}", args.arguments))?;
    let Value::Object(arguments) = arguments else {
        bail!("the arguments must be a JSON object, like '{{\"a\": 1}}'");
    };
    let catalog = build_catalog(store, runtime, &args.components, limits(&args.limits)?)?;
    let Some(entry) = catalog.get(&args.tool) else {
        if let Some(disabled) = catalog.disabled().iter().find(|d| {
            args.tool
                .strip_prefix(d.component.as_str())
                .is_some_and(|rest| rest.starts_with('_'))
        }) {
            bail!(
                "component `{}` is disabled, none of its tools is served: {}",
                disabled.component,
                disabled.reason
            );
        }
        let known: Vec<&str> = catalog.tools().iter().map(|t| t.name.as_ref()).collect();
        bail!(
            "no tool named `{}` (known: {})",
            args.tool,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let audit = open_audit(store, AuditFailure::KeepServing)?;
    let result =
        weld_server::handler::call_tool(entry, Some(&arguments), &audit, Some("weld-cli".into()))
            .await;
    audit.flush(Duration::from_secs(5));
    outln!("{}", serde_json::to_string_pretty(&result)?);
    Ok(if result.is_error == Some(true) {
        ExitCode::from(EXIT_TOOL_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

fn embed_docs(component: &Path, wit: &Path, output: Option<&Path>) -> Result<()> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let updated = docs::embed(&bytes, wit)?;
    let found: ComponentDocs = docs::read(&updated)?;
    let target = output.unwrap_or(component);
    weld_store::write_atomically(target, &updated)?;
    outln!(
        "wrote docs for {} function(s) into {}",
        found.0.len(),
        target.display()
    );
    Ok(())
}

fn show_audit(store: &Store, args: &cli::AuditArgs) -> Result<()> {
    if let Some(since) = &args.since {
        check_since(since)?;
    }
    let path = store.root().join("audit.jsonl");
    let text = weld_server::audit::read_log(&path)?.unwrap_or_default();
    let mut unreadable = 0usize;
    let records: Vec<AuditRecord> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<AuditRecord>(l) {
            Ok(record) => Some(record),
            Err(_) => {
                unreadable += 1;
                None
            }
        })
        .filter(|r| args.tool.as_deref().is_none_or(|t| r.tool == t))
        .filter(|r| args.component.as_deref().is_none_or(|c| r.component == c))
        .filter(|r| args.outcome.as_deref().is_none_or(|o| r.outcome == o))
        .filter(|r| args.since.as_deref().is_none_or(|s| r.time.as_str() >= s))
        .collect();
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} line(s) of {} are not audit records and were skipped",
            path.display()
        );
    }
    let shown = &records[records.len().saturating_sub(args.limit)..];
    for record in shown {
        if args.json {
            outln!("{}", serde_json::to_string(record)?);
        } else {
            // A policy change ran no sandbox: its change says more than
            // zero time and memory would.
            let measured = match &record.change {
                Some(change) => format!("{}: {}", one_line(&record.component), one_line(change)),
                None => format!("{:>9} us {:>9} B", record.duration_us, record.peak_memory),
            };
            outln!(
                "{}  {:<32} {:<18} {measured}{}{}{}",
                one_line(&record.time),
                one_line(&record.tool),
                one_line(&record.outcome),
                record
                    .fuel_used
                    .map(|f| format!(" {f:>12} fuel"))
                    .unwrap_or_default(),
                denied_summary(record),
                record
                    .error
                    .as_deref()
                    .map(|e| format!("  {}", one_line(e)))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// How many network and storage decisions of a call were denials, for the
/// text view (`--json` has each one).
fn denied_summary(record: &AuditRecord) -> String {
    let network = record.network.iter().filter(|d| !d.allowed).count();
    let storage = record.storage_denied.len() as u64 + record.storage_denied_dropped;
    let mut parts = Vec::new();
    if network > 0 || record.network_dropped > 0 {
        let more = if record.network_dropped > 0 { "+" } else { "" };
        parts.push(format!("{network}{more} network"));
    }
    if storage > 0 {
        parts.push(format!("{storage} storage"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  denied: {}", parts.join(", "))
    }
}

/// `text` for one line of a terminal: whitespace runs (newlines included)
/// become one space, and control and bidirectional-formatting characters are
/// escaped, since changes and errors carry text a client or tool chose and
/// could otherwise rewrite what the operator sees.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() && (c.is_ascii() || c == '\u{85}') {
            space = true;
            continue;
        }
        if std::mem::take(&mut space) {
            out.push(' ');
        }
        if c.is_control()
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// How the CLI changes policies: checked against the installed component
/// with default limits, relative URIs resolved against `base` — the same
/// code path as the built-in MCP tools.
fn policies(store: Store, runtime: impl Into<Arc<Runtime>>, base: Option<PathBuf>) -> Policies {
    Policies {
        store,
        runtime: runtime.into(),
        base,
        limits: CallLimits::default(),
    }
}

/// What each storage rule of a policy just written is granted as.
fn print_pins(pins: &weld_policy::Pins) -> Result<()> {
    for pin in pins.as_slice() {
        let rule = if pin.is_allow() { "allows" } else { "denies" };
        outln!("  {rule} {}", pin.describe());
    }
    Ok(())
}

fn change_policy(
    policies: &Policies,
    change: cli::PolicyChange,
    direction: Direction,
) -> Result<()> {
    let capability = match change.what {
        cli::Grantable::Storage { uri, access } => {
            let access = weld_server::manage::access_modes(access.split(','))
                .map_err(|e| anyhow::anyhow!("--access: {e}"))?;
            Capability::Storage { uri, access }
        }
        cli::Grantable::Network { target } => Capability::Network { target },
        cli::Grantable::Env { key, secret } => Capability::Env { key, secret },
    };
    let change = PolicyChange {
        component: change.name,
        direction,
        capability,
    };
    // The person typing the command approves what the path resolves to
    // now; the apply re-checks that under the state lock.
    let result = policies.apply(&change, None).map_err(anyhow::Error::from);
    let tool = match direction {
        Direction::Grant => "weld grant",
        Direction::Revoke => "weld revoke",
    };
    let summary = match &result {
        Ok(changed) => change.summary_resolved(changed.resolved.as_ref()),
        Err(_) => change.summary(),
    };
    audit_cli_change(
        &policies.store,
        tool,
        &change.component,
        summary.clone(),
        &result,
    );
    let changed = result?;
    outln!(
        "policy of `{}` updated ({summary}); a running weld applies it within a second",
        change.component,
    );
    if let Some(pin) = &changed.resolved {
        outln!("  granted {}", pin.describe());
    }
    if let Some(why) = &changed.still_disabled {
        outln!(
            "  note: the component is still not served: {}",
            one_line(why)
        );
    }
    Ok(())
}

/// `path` as the audit log shows it: absolute, so a record read later says
/// which file it was whatever directory the command ran in.
fn shown_path(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Records a policy change made from the command line in the audit log,
/// like one made through the built-in MCP tools: operators see every change,
/// whoever made it. An audit log that cannot be opened is a warning, not a
/// reason to undo a change already written.
fn audit_cli_change<T>(
    store: &Store,
    tool: &'static str,
    component: &str,
    change: String,
    result: &Result<T>,
) {
    let audit = match open_audit(store, AuditFailure::KeepServing) {
        Ok(audit) => audit,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "policy change not audited");
            return;
        }
    };
    let digest = store
        .index()
        .ok()
        .and_then(|index| {
            index
                .components
                .get(component)
                .map(|c| c.digest.to_string())
        })
        .unwrap_or_default();
    audit.record_builtin(weld_server::audit::BuiltinRecord {
        at: std::time::SystemTime::now(),
        tool,
        component: component.to_string(),
        digest,
        client: Some("cli".into()),
        args_bytes: 0,
        outcome: if result.is_ok() { "applied" } else { "refused" },
        change: Some(change),
        error: result.as_ref().err().map(|e| format!("{e:#}")),
    });
    audit.flush(Duration::from_secs(5));
}

/// One line from stdin (never from the command line, where it would land in
/// shell history and process listings).
fn read_secret_value(key: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        eprint!("value for {key} (input is read from stdin, one line): ");
        std::io::stderr().flush()?;
    }
    let mut value = String::new();
    std::io::stdin().lock().read_line(&mut value)?;
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no value given on stdin (e.g. `printf %s \"$TOKEN\" | weld secret set TOOL {key}`)");
    }
    Ok(value)
}

/// Records carry UTC times as `YYYY-MM-DDTHH:MM:SS.mmmZ` and are compared as
/// text, so `--since` must be a prefix of that shape (in UTC) or the filter
/// would silently mean something else.
fn check_since(since: &str) -> Result<()> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let bytes = since.trim_end_matches('Z').as_bytes();
    let fits = bytes.len() >= 10
        && bytes.len() <= shape.len()
        && bytes.iter().zip(shape).all(|(b, s)| match s {
            b'd' => b.is_ascii_digit(),
            other => b == other,
        });
    if !fits {
        bail!("--since takes a UTC time like 2026-11-21 or 2026-11-21T10:00:00Z (got `{since}`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn audit_text_is_one_line_with_control_and_bidi_characters_escaped() {
        assert_eq!(
            one_line("Not granted.\n\n  weld grant x\tnetwork h"),
            "Not granted. weld grant x network h"
        );
        assert_eq!(
            one_line("fs:///a\u{1b}[2J\u{202E}b/**"),
            "fs:///a\\u{1b}[2J\\u{202e}b/**"
        );
        assert_eq!(one_line("  grant env LANG  "), "grant env LANG");
    }
}
