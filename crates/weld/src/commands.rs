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
use weld_runtime::{Limits, Metering, Runtime, RuntimeConfig};
use weld_server::catalog::{self, Catalog};
use weld_server::load::{self, load_all};
use weld_server::manage::{Capability, Direction, Policies, PolicyChange};
use weld_server::sandbox::ToolPolicy;
use weld_server::{
    Audit, AuditRecord, BuiltinOptions, HttpOptions, Management, Registry, ServerOptions,
    WeldServer,
};
use weld_store::{ComponentDocs, Store, docs};

use crate::cli::{self, Cli, Command, DocsCommand};
use crate::dirs;

/// Exit status for `weld call` when the tool itself reported an error.
const EXIT_TOOL_ERROR: u8 = 3;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let Cli { dirs: d, command } = cli;
    let state = || -> Result<Store> {
        let dir = dirs::state_dir(d.state_dir.clone())?;
        Store::open(&dir).with_context(|| format!("opening the state directory {}", dir.display()))
    };
    let serving = |max_instances: u32, memory_budget_mib: Option<u64>| -> Result<Runtime> {
        let mut config = RuntimeConfig::new(dirs::cache_dir(d.cache_dir.clone())?);
        config.max_instances = max_instances;
        if let Some(mib) = memory_budget_mib {
            config.memory_budget = mib.saturating_mul(1024 * 1024);
        }
        Ok(Runtime::new(&config)?)
    };
    let runtime = |max_instances: u32| serving(max_instances, None);
    match command {
        Command::Serve(args) => {
            let runtime = serving(args.max_instances, args.limits.memory_budget_mib)?;
            tracing::info!(
                max_instances = args.max_instances,
                memory_budget_mib = runtime.memory_budget() / (1024 * 1024),
                "calls beyond the instance slots or the memory budget wait"
            );
            serve(&state()?, Arc::new(runtime), args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Add(args) => {
            add(&state()?, &runtime(1)?, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { name } => {
            let removed = state()?.remove(&name)?;
            outln!("removed `{name}` ({})", removed.digest);
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => {
            list(&state()?, &runtime(1)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { path, name, json } => {
            inspect(&runtime(1)?, &path, name.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(args) => {
            let runtime = serving(4, args.limits.memory_budget_mib)?;
            call(&state()?, &runtime, args).await
        }
        Command::Policy(cli::PolicyCommand::Show { name }) => {
            let store = state()?;
            store
                .index()?
                .components
                .get(&name)
                .ok_or_else(|| weld_store::StoreError::NotInstalled(name.clone()))?;
            match store.read_policy(&name)? {
                Some(text) => outln!("{}", text.trim_end()),
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
            let policies = policies(state()?, runtime(1)?)?;
            let result = policies.set(&name, &policy).map_err(anyhow::Error::from);
            let change = format!("set policy from {}", shown_path(&file));
            audit_cli_change(&policies.store, "weld policy set", &name, change, &result);
            result?;
            outln!("policy of `{name}` updated; a running weld applies it within a second");
            Ok(ExitCode::SUCCESS)
        }
        Command::Grant(change) => {
            change_policy(&policies(state()?, runtime(1)?)?, change, Direction::Grant)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke(change) => {
            change_policy(&policies(state()?, runtime(1)?)?, change, Direction::Revoke)?;
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

fn limits(args: &cli::Limits) -> Result<Limits> {
    let max = weld_policy::MAX_TIMEOUT.as_secs_f64();
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= max) {
        bail!("--timeout must be a positive number of seconds, at most {max} (24 hours)");
    }
    Ok(Limits {
        memory: args.memory_mib.saturating_mul(1024 * 1024),
        timeout: Duration::from_secs_f64(args.timeout),
        ..Limits::default()
    })
}

fn build_catalog(
    store: &Store,
    runtime: &Runtime,
    extra: &[PathBuf],
    limits: Limits,
) -> Result<Catalog> {
    let base = std::env::current_dir().context("reading the current directory")?;
    let entries = load_all(store, runtime, extra, limits, &base)?;
    let catalog = Catalog::build(entries);
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

async fn serve(store: &Store, runtime: Arc<Runtime>, args: cli::ServeArgs) -> Result<()> {
    let limits = limits(&args.limits)?;
    let catalog = build_catalog(store, &runtime, &args.components, limits)?;
    tracing::info!(tools = catalog.tools().len(), "tools loaded");
    let registry = Arc::new(Registry::new(catalog));
    let audit = open_audit(store)?;
    let base = std::env::current_dir().context("reading the current directory")?;
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
        base,
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

fn open_audit(store: &Store) -> Result<Audit> {
    let path = store.root().join("audit.jsonl");
    Audit::to_file(&path).with_context(|| format!("opening the audit log {}", path.display()))
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

fn add(store: &Store, runtime: &Runtime, args: &cli::AddArgs) -> Result<()> {
    let cannot = || format!("{} cannot be installed", args.path.display());
    let file = load::read_component_file(&args.path, args.name.as_deref()).with_context(cannot)?;
    if !args.force && store.index()?.components.contains_key(&file.name) {
        return Err(weld_store::StoreError::AlreadyInstalled(file.name).into());
    }
    // Compile (and link) before touching the state: a component weld cannot
    // run is never installed. It runs deny-all, so unmetered, until a
    // policy says otherwise.
    let loaded = runtime
        .compile(file.digest.hex(), Metering::Off, &file.bytes)
        .with_context(cannot)?;
    let proposed = proposed_policy(args)?;
    if let Some((path, policy)) = &proposed {
        // An offered policy weld could not enforce is refused before anything
        // is installed, so accepting it later cannot fail.
        let base = std::env::current_dir().context("reading the current directory")?;
        load::compile_policy(
            store,
            &file.name,
            policy,
            &base,
            loaded.imports(),
            Limits::default(),
        )
        .with_context(|| format!("{} is refused", path.display()))
        .with_context(cannot)?;
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
        policy: ToolPolicy::deny_all(Limits::default()),
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
    if args.accept_policy || confirm("apply it?")? {
        let metering = weld_server::sandbox::metering(&policy);
        if metering != Metering::Off {
            // Compiled now for the engine the policy needs, so the first
            // `weld serve` finds it in the cache.
            runtime
                .compile(file.digest.hex(), metering, &file.bytes)
                .context("compiling it for fuel metering; the policy was NOT applied")?;
        }
        let written = store
            .write_policy(&file.name, &policy.to_yaml())
            .map_err(anyhow::Error::from);
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
    let mut out = Vec::new();
    for (name, installed) in &index.components {
        let digest = installed.digest.clone();
        // The engine its policy picks, so listing compiles nothing `weld
        // serve` will not use; a policy that does not parse is `serve`'s to
        // report, the listing only needs the component's type.
        let metering = load::stored_policy(store, name)
            .ok()
            .flatten()
            .map_or(Metering::Off, |p| weld_server::sandbox::metering(&p));
        let loaded = load::load_installed(store, runtime, &digest, metering);
        let (tools, skipped, imports, problem) = match loaded {
            Ok(loaded) => {
                let imports = loaded.imports().to_vec();
                let catalog = Catalog::build(vec![weld_server::ComponentEntry {
                    name: name.clone(),
                    digest: digest.to_string(),
                    docs: installed.docs.clone(),
                    loaded: Arc::new(loaded),
                    policy: ToolPolicy::deny_all(Limits::default()),
                }]);
                (tool_json(&catalog), skipped_json(&catalog), imports, None)
            }
            Err(error) => (vec![], vec![], vec![], Some(error.to_string())),
        };
        out.push(json!({
            "name": name,
            "digest": installed.digest,
            "size": installed.size,
            "source": installed.source,
            "installed_at": installed.installed_at,
            "tools": tools,
            "not_tools": skipped,
            "imports": imports,
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
            outln!("  cannot be loaded: {error}");
        }
        print_listing(component)?;
    }
    Ok(())
}

fn tool_json(catalog: &Catalog) -> Vec<Value> {
    catalog
        .tools()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect()
}

fn skipped_json(catalog: &Catalog) -> Vec<Value> {
    catalog
        .skipped()
        .iter()
        .map(|s| json!({ "function": s.function, "reason": s.reason }))
        .collect()
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

fn inspect(runtime: &Runtime, path: &Path, name: Option<&str>, as_json: bool) -> Result<()> {
    let file = load::read_component_file(path, name)?;
    let inspection = runtime
        .inspect(&file.bytes)
        .with_context(|| format!("inspecting {}", path.display()))?;
    let mut tools = Vec::new();
    let mut not_tools = Vec::new();
    for function in &inspection.functions {
        let interface = function.interface_short_name();
        let tool_name = catalog::tool_name(&file.name, interface, &function.name);
        match &function.signature {
            Ok(signature) => {
                let tool = catalog::describe(
                    &file.name,
                    function,
                    signature,
                    file.docs.get(interface, &function.name),
                );
                tools.push(serde_json::to_value(&tool)?);
            }
            Err(reason) => not_tools.push(json!({ "function": tool_name, "reason": reason })),
        }
    }
    let report = json!({
        "name": file.name,
        "digest": file.digest,
        "size": file.bytes.len(),
        "tools": tools,
        "not_tools": not_tools,
        "imports": inspection.imports,
        "loadable": inspection.link_error.is_none(),
        "link_error": inspection.link_error,
    });
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!("{} {} ({} bytes)", file.name, file.digest, file.bytes.len());
    if let Some(error) = &inspection.link_error {
        outln!("  cannot run here: {error}");
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
    let audit = open_audit(store)?;
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
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    };
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
/// with default limits, relative URIs resolved against the current
/// directory — the same code path as the built-in MCP tools.
fn policies(store: Store, runtime: Runtime) -> Result<Policies> {
    Ok(Policies {
        store,
        runtime: Arc::new(runtime),
        base: std::env::current_dir().context("reading the current directory")?,
        limits: Limits::default(),
    })
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
    let result = policies.apply(&change).map_err(anyhow::Error::from);
    let tool = match direction {
        Direction::Grant => "weld grant",
        Direction::Revoke => "weld revoke",
    };
    audit_cli_change(
        &policies.store,
        tool,
        &change.component,
        change.summary(),
        &result,
    );
    result?;
    outln!(
        "policy of `{}` updated ({}); a running weld applies it within a second",
        change.component,
        change.summary()
    );
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
    let audit = match open_audit(store) {
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
