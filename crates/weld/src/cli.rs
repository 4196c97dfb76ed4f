//! The command line: one definition per flag, from which `--help` comes.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The command line, with `weld serve`'s flags from the configuration
/// file's `[serve]` table under those given (which win; repeatable flags
/// add up). Exits with a usage error (2) naming the file for a bad table.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&argv);
    if !matches!(cli.command, Command::Serve(_)) {
        return cli;
    }
    let explicit = cli.dirs.config.clone().or_else(|| {
        std::env::var_os("WELD_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let usage_error = |message: String| -> ! {
        eprintln!("error: {message}");
        std::process::exit(2)
    };
    let table = match crate::config::serve_args(explicit.as_deref(), &crate::config::serve_flags())
    {
        Ok(Some(found)) => found,
        Ok(None) => return cli,
        Err(error) => usage_error(format!("{error:#}")),
    };
    // Each key's flags alone first, so that an error says where it is; then
    // the file's together (flags that conflict), naming the file.
    let first_error = |args: &mut dyn Iterator<Item = &OsString>| {
        let alone = ["weld", "serve"].map(OsString::from).into_iter();
        let error = Cli::try_parse_from(alone.chain(args.cloned())).err()?;
        let text = error.to_string();
        let first = text.lines().next().unwrap_or_default();
        Some(first.trim_start_matches("error: ").to_owned())
    };
    for (at, args) in &table.keys {
        if let Some(error) = first_error(&mut args.iter()) {
            usage_error(format!("{at}: {error}"));
        }
    }
    if let Some(error) = first_error(&mut table.args()) {
        usage_error(format!("{}: [serve]: {error}", table.path.display()));
    }
    let extra: Vec<OsString> = table.args().cloned().collect();
    let Some(at) = subcommand_index(&argv) else {
        return cli;
    };
    let merged: Vec<OsString> = argv[..=at]
        .iter()
        .chain(&extra)
        .chain(&argv[at + 1..])
        .cloned()
        .collect();
    let command = Cli::command().args_override_self(true);
    match command
        .try_get_matches_from(merged)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    }
}

/// Where the subcommand is in `argv`: the first argument that is neither a
/// flag nor the value of a global flag before it.
fn subcommand_index(argv: &[OsString]) -> Option<usize> {
    use clap::CommandFactory;
    let command = Cli::command();
    let takes_value = |long: &str| {
        command.get_arguments().any(|a| {
            a.get_long() == Some(long)
                && matches!(
                    a.get_action(),
                    clap::ArgAction::Set | clap::ArgAction::Append
                )
        })
    };
    let mut skip = false;
    for (i, arg) in argv.iter().enumerate().skip(1) {
        if std::mem::take(&mut skip) {
            continue;
        }
        let arg = arg.to_string_lossy();
        if let Some(long) = arg.strip_prefix("--") {
            skip = !long.contains('=') && takes_value(long);
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        return Some(i);
    }
    None
}

/// weld: a trusted MCP server that runs untrusted tools as WebAssembly
/// components, each call in a fresh sandbox.
#[derive(Debug, Parser)]
#[command(name = "weld", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 success, 1 error, 2 usage error, 3 the tool returned an error (weld call)."
)]
pub struct Cli {
    #[command(flatten)]
    pub dirs: Dirs,
    #[command(flatten)]
    pub compile: CompileArgs,
    #[command(flatten)]
    pub registries: RegistryArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Limits on compiling a component. A component is untrusted input that can
/// be made to compile for minutes; it is compiled once (then cached) in a
/// separate process that is stopped at these limits.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Stop compiling a component after this many seconds (at most 86400);
    /// it is then not installed or not served.
    #[arg(
        long,
        global = true,
        default_value_t = weld_runtime::CompileLimits::DEFAULT_TIMEOUT.as_secs_f64(),
        value_name = "SECONDS"
    )]
    pub compile_timeout: f64,
    /// Memory the compilation of one component may use, in MiB.
    #[arg(
        long,
        global = true,
        default_value_t = weld_runtime::CompileLimits::DEFAULT_MEMORY / (1024 * 1024),
        value_name = "MIB"
    )]
    pub compile_memory_mib: u64,
    /// Largest size of the incremental compile cache, in MiB: functions
    /// compiled once are reused by components that share them (those built
    /// by the same toolchain share most of their code). 0 turns it off.
    #[arg(
        long,
        global = true,
        default_value_t = weld_runtime::RuntimeConfig::DEFAULT_INCREMENTAL_CACHE_BYTES / (1024 * 1024),
        value_name = "MIB"
    )]
    pub incremental_cache_mib: u64,
}

/// Registries, beyond what weld.toml says.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to this registry (HOST:PORT; repeatable), e.g. one
    /// on loopback for development. Every other registry is HTTPS only.
    /// Adds to weld.toml's `insecure_registries`.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST:PORT")]
    pub insecure: Vec<String>,
}

/// Where weld keeps its state and cache.
#[derive(Debug, Args)]
pub struct Dirs {
    /// State directory (installed components). Default: $WELD_STATE_DIR,
    /// else $XDG_STATE_HOME/weld, else ~/.local/state/weld.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Cache directory (compiled components; safe to delete). Default:
    /// $WELD_CACHE_DIR, else $XDG_CACHE_HOME/weld, else ~/.cache/weld.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The directory `fs://./` storage URIs are resolved against when they
    /// are granted (once: what they resolved to is stored with the policy).
    /// `weld grant`, `weld policy set` and `weld add` default to the current
    /// directory; `weld serve` has none unless given, and then refuses
    /// relative URIs a model asks for. Also $WELD_BASE_DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,
    /// The configuration file: registries, download limits, and whose
    /// signatures to trust for which sources (docs/trust.md). Default:
    /// $WELD_CONFIG, else $XDG_CONFIG_HOME/weld/weld.toml, else
    /// ~/.config/weld/weld.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The lock file `weld add`, `update`, `remove` and `sync` keep, and
    /// `weld sync` installs from. Default: $WELD_LOCK, else weld.lock
    /// beside the configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

impl Dirs {
    /// Fills what the flags left unset from the `WELD_*` variables.
    ///
    /// Not clap's `env =`: clap counts a value from the environment as
    /// given, and then prints `--state-dir <DIR>` in every usage line as
    /// if it were required.
    pub fn with_environment(mut self) -> Self {
        fn var(name: &str) -> Option<PathBuf> {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        }
        self.state_dir = self.state_dir.or_else(|| var("WELD_STATE_DIR"));
        self.cache_dir = self.cache_dir.or_else(|| var("WELD_CACHE_DIR"));
        self.base_dir = self.base_dir.or_else(|| var("WELD_BASE_DIR"));
        self.config = self.config.or_else(|| var("WELD_CONFIG"));
        self.lock = self.lock.or_else(|| var("WELD_LOCK"));
        self
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the installed components (and any given) as MCP tools, over stdio
    /// (default) or Streamable HTTP.
    Serve(ServeArgs),
    /// Install a component: copy it into the state directory, compile it
    /// ahead of time and describe its tools. Atomic: a failure leaves the
    /// previous state as it was.
    Add(AddArgs),
    /// Install exactly the tools a lock file names (by digest, signer
    /// re-verified, approved policies checked against their digests), and
    /// remove the ones it does not name.
    Sync(SyncArgs),
    /// Fetch a newer version of an installed tool from its source, verify
    /// it, show what changed (signer, imports, proposed policy), and install
    /// it when confirmed.
    Update(UpdateArgs),
    /// Write the lock file (and the approved policies beside it) from what
    /// is installed now.
    Lock,
    /// Make a signing key pair: FILE.key (private, 0600) and FILE.pub (the
    /// public key others put in their weld.toml). Same PEM formats as
    /// openssl and cosign's public keys.
    Keygen {
        /// Where to write (without extension).
        #[arg(long, short, default_value = "weld", value_name = "FILE")]
        output: PathBuf,
    },
    /// Sign a published component (oci://…) in the registry, in cosign's
    /// formats, or a file (writes FILE.sig, as `cosign sign-blob`).
    Sign(SignArgs),
    /// Push a component (and the policy it proposes) to an OCI registry in
    /// the CNCF Wasm layout, and sign it when --key is given.
    Publish(PublishArgs),
    /// The stored component blobs.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Uninstall a component.
    Remove {
        /// The component's name (see `weld list`).
        name: String,
    },
    /// List installed components, their tools and their imports.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what a component file would offer as tools (names, JSON Schemas,
    /// descriptions) and what it imports, without installing it.
    Inspect {
        /// The component file.
        path: PathBuf,
        /// The name it would be installed under (default: from the file name).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// For a component of an MCP world (which names its own tools,
        /// resources and prompts): compile it (within the compile limits)
        /// and ask it what it offers, in a deny-all sandbox with the
        /// default limits. Without it nothing is compiled or run.
        #[arg(long)]
        list: bool,
    },
    /// Run one tool once, without an MCP client, and print the result a
    /// client would get (as JSON).
    Call(CallArgs),
    /// Policy documents (docs/policy.md): what each installed component may
    /// reach: directories and files, network hosts and ports, environment variables,
    /// interface denies, limits (memory, timeout, output, concurrency, and
    /// fuel: a deterministic instruction budget per call).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Grant an installed component access (a person's decision; the model
    /// cannot do this).
    Grant(PolicyChange),
    /// Take access away again.
    Revoke(PolicyChange),
    /// Secrets a component's policy may pass to it as environment variables
    /// (`from: secret`). Stored 0600 in the state directory, never logged,
    /// never shown back.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Show the audit log: one record per tool call and per policy change
    /// (newest last).
    Audit(AuditArgs),
    /// Tool-author helpers for component documentation.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Start a tool project in a new directory NAME: a WIT file whose doc
    /// comments become the tool's descriptions, the source, a proposed
    /// policy, build.sh (one command to a component) and test.sh (calls the
    /// tool through `weld call`).
    New(NewArgs),
    /// Internal: the compiler process weld runs itself as (reads a component
    /// on stdin, writes the compiled artefact to stdout).
    #[command(name = "__compile", hide = true)]
    CompileWorker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(Debug, Args)]
pub struct Limits {
    /// Memory limit per call, in MiB (all linear memories together), for
    /// tools whose policy sets none: a policy's `limits.memory` is a
    /// person's decision for that tool and replaces it, higher or lower
    /// (--memory-budget-mib still bounds all calls together).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub memory_mib: u64,
    /// Wall-clock limit per call, in seconds (at most 86400, a day), for
    /// tools whose policy sets none: a policy's `limits.timeout` replaces
    /// it for that tool, higher or lower. A call that must wait for
    /// capacity waits at most as long, then fails.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Memory all running calls may reserve together, in MiB: each call
    /// reserves its memory limit while it runs, and calls beyond the budget
    /// wait. Default: half of the machine's memory (or of weld's cgroup
    /// memory limit, if smaller).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget_mib: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve Streamable HTTP on this address (path /mcp) instead of stdio.
    /// Binding a non-loopback address needs --allow-host for the names
    /// clients will use.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// Also serve this component file (repeatable). Its name comes from the
    /// file name.
    #[arg(long = "component", value_name = "PATH")]
    pub components: Vec<PathBuf>,
    /// Accept this Host header value too (HTTP; loopback names always are).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Accept requests from this browser Origin too, e.g.
    /// https://app.example.com:443 (HTTP; loopback origins always are).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Require `Authorization: Bearer <token>` on every HTTP request, the
    /// token read from this file (its first line). Required when --http is
    /// not a loopback address.
    #[arg(long, value_name = "FILE", env = "WELD_HTTP_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Refuse requests larger than this many bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub max_request_bytes: usize,
    #[command(flatten)]
    pub http_limits: HttpLimitArgs,
    /// Calls that may run at once across all tools; more wait. A call of a
    /// component with more than 2 linear memories or 8 tables counts as
    /// several. One component's tools get at most half.
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,
    /// Seconds an MCP server component (a wasi:cli command that speaks MCP
    /// over its stdin and stdout, run as one long-lived instance) may go
    /// without a request before its instance is stopped, giving back its
    /// instance slot and memory; the next call starts it again.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub mcp_server_idle_timeout: f64,
    /// The most tools one tools/list answer carries. A longer list is sent
    /// in pages, each but the last with a nextCursor for the next; a list
    /// this long or shorter is sent whole. A page also ends before 4 MiB of
    /// tool definitions.
    #[arg(long, default_value_t = weld_mcp::pages::PAGE_TOOLS, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tools_page_size: u32,
    /// Serve no built-in tools (weld_list_components, weld_show_policy,
    /// weld_request_grant, weld_revoke): only the components' tools.
    #[arg(long)]
    pub no_builtin_tools: bool,
    /// DANGEROUS: apply grants the model asks for (weld_request_grant)
    /// without asking a person. Any client, and so the model, can then widen
    /// any tool's access to files, hosts and variables. Off by default.
    #[arg(long, conflicts_with = "no_builtin_tools")]
    pub allow_model_grants: bool,
    /// What to do while audit records cannot be written (a full disk, an
    /// I/O error). keep-serving: serve on, count the records lost, say so in
    /// the log, and record the count in the audit log (outcome
    /// records_lost) once it can be written. refuse-calls: the same, and
    /// refuse every tool call until a record can be written again.
    #[arg(long, value_enum, default_value_t = AuditFailure::KeepServing, value_name = "WHAT")]
    pub audit_failure: AuditFailure,
    /// Where this server's audit records go: file (STATE/audit.jsonl, which
    /// `weld audit` reads) or stdout (one JSON record per line, for a
    /// container's log collector; only with --http: over stdio, stdout is
    /// the MCP channel).
    #[arg(long, value_enum, default_value_t = AuditTo::File, value_name = "WHERE")]
    pub audit_to: AuditTo,
    /// This weld's name among replicas serving the same tools: every audit
    /// record it writes carries it (e.g. the pod's name).
    #[arg(long, env = "WELD_REPLICA", value_name = "NAME")]
    pub replica: Option<String>,
    /// Serve the tools and prompts of MCP-world components (which name
    /// their own) as COMPONENT_NAME, like plain tools, so that two
    /// components can never clash. Without it they keep their own names
    /// and, on a clash, the component loaded first serves the name (weld
    /// list says which was not served).
    #[arg(long)]
    pub prefix_mcp_names: bool,
    #[command(flatten)]
    pub limits: Limits,
}

/// What HTTP clients may hold of weld's connections, time and memory.
#[derive(Debug, Args)]
pub struct HttpLimitArgs {
    /// HTTP connections served at once; the next ones are answered 503
    /// (retry) and closed. weld raises its open-file limit to match if it
    /// may, and refuses to start if it may not.
    #[arg(long, default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds an HTTP connection may go without a request in progress:
    /// to send a request head, and between requests.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub header_timeout: f64,
    /// MCP sessions held at once, for clients that initialize over HTTP
    /// (up to 2025-11-25; 2026-07-28 clients need none). Beyond, a new
    /// session is refused until one ends.
    #[arg(long, default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_sessions: u32,
    /// Seconds an MCP session may go without a request before it is closed
    /// (the client then gets 404 and initializes again).
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub session_idle_timeout: f64,
    /// On SIGTERM or SIGINT, once --shutdown-delay is over: seconds the
    /// calls in progress may take to finish (new connections are refused,
    /// /readyz answers 503) before what still runs is cancelled and weld
    /// exits.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub shutdown_grace: f64,
    /// On SIGTERM or SIGINT: seconds weld goes on accepting and serving as
    /// usual while /readyz answers 503, before it stops accepting (then
    /// --shutdown-grace). Behind a balancer that learns of a stopping
    /// replica late and does not retry (a Kubernetes Service), give it the
    /// time that takes, e.g. 5. A second signal ends the delay at once.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub shutdown_delay: f64,
    /// Seconds an HTTP request body may take to arrive after its head
    /// (408 and the connection closed beyond).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub body_timeout: f64,
    /// Bytes of HTTP request bodies held at once across all connections,
    /// until each request is answered; a request that would go over gets 503
    /// (retry). Default: 16 times --max-request-bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_buffered_request_bytes: Option<usize>,
}

/// `--audit-to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditTo {
    File,
    Stdout,
}

/// `--audit-failure`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuditFailure {
    KeepServing,
    RefuseCalls,
}

impl From<AuditFailure> for weld_host::AuditFailure {
    fn from(value: AuditFailure) -> Self {
        match value {
            AuditFailure::KeepServing => Self::KeepServing,
            AuditFailure::RefuseCalls => Self::RefuseCalls,
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// What to install: a component file (.wasm), `oci://REGISTRY/REPO:TAG`,
    /// `oci://REGISTRY/REPO@sha256:…`, or `https://…/tool.wasm`. Remote
    /// sources must be signed by a signer weld.toml trusts for them.
    pub source: String,
    /// Install under this name (default: from the file name). Tool names
    /// start with it.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace a component already installed under the same name (its
    /// policy stays unless a new one is accepted).
    #[arg(long)]
    pub force: bool,
    /// The policy the component proposes. Default: the file next to it named
    /// like it with `.policy.yaml` (tool.wasm -> tool.policy.yaml), else
    /// `policy.yaml` in the same directory, if any. It is shown, and applied
    /// only when confirmed.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Apply the proposed policy without asking.
    #[arg(long)]
    pub accept_policy: bool,
    /// Install a remote source without a signature. Recorded, and shown by
    /// `weld list` next to the tool.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// https: the detached signature (cosign sign-blob) or Sigstore bundle
    /// file. Default: URL.sigstore.json, then URL.sig, beside it.
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    pub signature: Option<PathBuf>,
    /// https: the sha256 digest the file must have, given by you instead of
    /// a signature.
    #[arg(long, value_name = "SHA256")]
    pub digest: Option<String>,
    /// Install the digest the lock file names for this source; never
    /// resolve a tag.
    #[arg(long)]
    pub locked: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The lock file (default: --lock, else weld.lock beside weld.toml).
    pub lock_file: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The installed component's name.
    pub name: String,
    /// Accept the new version (and a wider proposed policy) without asking.
    #[arg(long)]
    pub yes: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// `oci://REGISTRY/REPO:TAG` (or @sha256:…), or a file.
    pub target: String,
    /// The private key (PEM, from `weld keygen` or openssl).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Which signature formats to write (oci).
    #[arg(long, value_enum, default_value_t = SignatureFormat::Both)]
    pub format: SignatureFormat,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The component file.
    pub component: PathBuf,
    /// Where: `oci://REGISTRY/REPO:TAG`.
    pub reference: String,
    /// The policy the component proposes, pushed as a second layer
    /// (default: the file beside it named like it with .policy.yaml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Sign what was pushed with this private key.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Which signature formats to write.
    #[arg(long, value_enum, default_value_t = SignatureFormat::Both)]
    pub format: SignatureFormat,
}

/// Signature formats weld writes (both verify with cosign).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureFormat {
    /// cosign's legacy simple signing payload under the sha256-HEX.sig tag.
    Simple,
    /// A Sigstore bundle v0.3 attached as an OCI referrer.
    Bundle,
    /// Both.
    Both,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Re-check every stored component against its digest, and every
    /// record of the incremental compile cache against its MAC.
    Verify,
    /// Delete the stored blobs no installed component names and what
    /// interrupted writes left (in the state and the compile cache), and
    /// drop the incremental compile cache's failed and superseded records.
    Gc,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The tool's name (see `weld list`).
    pub tool: String,
    /// The arguments, a JSON object.
    #[arg(default_value = "{}")]
    pub arguments: String,
    /// Also load this component file (repeatable).
    #[arg(long = "component", value_name = "PATH")]
    pub components: Vec<PathBuf>,
    #[command(flatten)]
    pub limits: Limits,
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Write the WIT's doc comments into the component's `package-docs`
    /// section, where weld (and other hosts) read tool descriptions from.
    /// In a function's doc comment, `@param NAME text` lines describe
    /// parameters.
    Embed {
        /// The component to update.
        component: PathBuf,
        /// The WIT directory the component was built from.
        #[arg(long, value_name = "DIR")]
        wit: PathBuf,
        /// Write here instead of replacing the component in place.
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The tool's name: lowercase letters, digits and single hyphens,
    /// starting with a letter (it names the directory, the WIT world and
    /// the component). Its tools are then NAME_FUNCTION.
    pub name: String,
    /// The language to write the tool in.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Write an MCP server component instead (wasmcp's `mcp-v20251125`
    /// world): it names and describes its own tools, resources and prompts,
    /// and completes arguments. Rust only.
    #[arg(long)]
    pub mcp: bool,
}

/// A language `weld new` writes a project for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
    /// C, built with clang, wasi-libc, wit-bindgen and wasm-component-ld.
    C,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only calls of this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// Only calls of this component's tools.
    #[arg(long)]
    pub component: Option<String>,
    /// Only this outcome: ok, tool_error, invalid_arguments, cancelled,
    /// refused_busy, queue_timeout, over_budget, output_limit, deadline,
    /// out_of_memory, out_of_fuel,
    /// stack_overflow, panic, exit, trap, grant_moved, instantiate; for
    /// policy changes (built-in tools and the CLI) also applied,
    /// applied_unapproved, approval_requested, declined, refused; and
    /// records_lost (tool weld: audit records that could not be written).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only calls at or after this UTC time: 2026-11-21 or 2026-11-21T10:00:00Z.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most this many records (the newest).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the records as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print an installed component's policy.
    Show {
        /// The component (see `weld list`).
        name: String,
    },
    /// Replace an installed component's policy with FILE, after checking
    /// weld can enforce it.
    Set {
        /// The component (see `weld list`).
        name: String,
        /// The policy file (YAML or JSON).
        file: PathBuf,
    },
    /// Check a policy file (YAML or JSON) and print it in canonical form, or
    /// every error with its line and column.
    Validate {
        /// The policy file.
        file: PathBuf,
    },
}

/// `weld grant TOOL KIND ...` / `weld revoke TOOL KIND ...`.
#[derive(Debug, Args)]
pub struct PolicyChange {
    /// The installed component (see `weld list`).
    pub name: String,
    #[command(subcommand)]
    pub what: Grantable,
}

#[derive(Debug, Subcommand)]
pub enum Grantable {
    /// A directory tree, e.g. fs:///home/me/notes/**, or one file,
    /// fs:///home/me/notes/todo.md, by its real path (a path through a
    /// symlink is refused, naming where it leads). fs://./dir/** is under
    /// --base-dir, else the current directory; it is resolved once, now,
    /// and the grant stays pinned to that directory.
    Storage {
        /// The storage URI.
        uri: String,
        /// read, or read,write.
        #[arg(long, default_value = "read")]
        access: String,
    },
    /// A host: HOST[:PORT] is HTTPS (port 443 if omitted; IPv6 in
    /// brackets, [::1]:8443); SCHEME://HOST[:PORT] is that scheme: http,
    /// https (ports 80 and 443 if omitted), tcp or udp (a port is needed),
    /// e.g. http://127.0.0.1:8080 or tcp://db.internal:5432. No path: weld
    /// checks scheme, host and port, per request and on every address the
    /// host resolves to. `weld revoke` with a bare HOST removes every rule
    /// for it.
    Network {
        /// HOST[:PORT] or SCHEME://HOST[:PORT].
        target: String,
    },
    /// An environment variable, passed from weld's own environment (or,
    /// with --secret, from weld's secret store: `weld secret set`).
    Env {
        /// The variable's name.
        key: String,
        /// Take the value from weld's secret store instead.
        #[arg(long)]
        secret: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a secret; the value is read from stdin (one line).
    Set {
        /// The installed component.
        name: String,
        /// The variable name the policy grants.
        key: String,
    },
    /// Remove a secret.
    Remove {
        /// The installed component.
        name: String,
        /// The variable name.
        key: String,
    },
    /// List a component's secrets (names and lengths only).
    List {
        /// The installed component.
        name: String,
    },
}
