//! `weld add`: install a component from a file, a registry or a URL — a
//! remote one only once its signature is proven — and the policy it offers
//! if a person accepts it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use weld_dist::Source;
use weld_host::distribution::{Fetched, HttpsProof, Pinned};
use weld_host::lockfile::Lock;
use weld_host::trust::Scope;
use weld_host::{Host, install};

use super::Env;
use super::list::print_tools;
use super::policy::{audit_cli_change, print_pins, shown_path};
use super::progress;
use crate::cli;

/// `weld add`.
pub(super) async fn add(env: &Env, args: &cli::AddArgs) -> Result<ExitCode> {
    let host = env.granting_host()?;
    let cannot = || format!("{} cannot be installed", args.source);
    let source = Source::parse(&args.source).with_context(cannot)?;
    let (request, proposed) = match &source {
        Source::File(path) => {
            if args.signature.is_some() || args.digest.is_some() || args.locked {
                bail!("--signature, --digest and --locked are for remote sources, not files");
            }
            let mut request =
                install::Request::file(path, args.name.as_deref()).with_context(cannot)?;
            request.force = args.force;
            (request, proposed_policy_file(args.policy.as_deref(), path)?)
        }
        remote => {
            let locked = if args.locked {
                let lock = Lock::read(&env.lock_path()?)?;
                let tool = lock
                    .tools
                    .into_iter()
                    .find(|t| t.source == args.source)
                    .with_context(|| {
                        format!(
                            "the lock file names no tool from {}; run without --locked",
                            args.source
                        )
                    })?;
                Some(tool)
            } else {
                None
            };
            let pinned = locked.as_ref().map(|t| Pinned {
                manifest: t.manifest.as_deref(),
                component: &t.component,
            });
            let proof = match (&args.signature, &args.digest) {
                (Some(file), _) => HttpsProof::File(file),
                (None, Some(digest)) => HttpsProof::Digest(digest),
                (None, None) => HttpsProof::Beside,
            };
            let fetched = fetch(
                env,
                remote,
                args.allow_unsigned,
                args.quiet,
                pinned.as_ref(),
                &proof,
            )
            .await
            .with_context(cannot)?;
            let proposed = match &args.policy {
                Some(file) => read_policy_file(file)?,
                None => layer_policy(&fetched)?,
            };
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| fetched.default_name.clone());
            let component = weld_host::load::component_from_bytes(
                fetched.bytes,
                name,
                Path::new(&fetched.source),
            )
            .with_context(cannot)?;
            let request = install::Request {
                component,
                source: fetched.source,
                provenance: Some(fetched.provenance),
                force: args.force,
                policy: None,
            };
            (request, proposed)
        }
    };
    finish(
        env,
        &host,
        request,
        proposed,
        args.accept_policy,
        args.quiet,
        "weld add",
    )
}

/// Fetches and proves a remote `source` under weld.toml's trust policy
/// (with a one-off unsigned opt-out for it when `allow_unsigned`).
pub(super) async fn fetch(
    env: &Env,
    source: &Source,
    allow_unsigned: bool,
    quiet: bool,
    pinned: Option<&Pinned<'_>>,
    proof: &HttpsProof<'_>,
) -> Result<Fetched> {
    let config = env.config()?;
    let mut trust = config.trust;
    if allow_unsigned {
        let scope = Scope::new(&source.to_string()).map_err(anyhow::Error::msg)?;
        trust.allow_unsigned(scope);
    }
    let mut dist = config.dist;
    dist.progress = progress::download(quiet);
    let store = env.state()?;
    let fetcher = weld_host::distribution::Fetcher::new(dist, trust)?.with_store(store.clone());
    // Downloads land in the private state directory, then only their
    // verified bytes go on; the directory goes with the guard, and what a
    // kill -9 leaves there is taken by `weld cache gc`.
    let tmp = tempfile::Builder::new()
        .prefix(".fetch")
        .tempdir_in(store.root().join("blobs").join("sha256"))
        .context("creating a download directory in the state directory")?;
    Ok(fetcher.fetch(source, pinned, proof, tmp.path()).await?)
}

/// Installs `request`, prints what it offers, applies the proposed policy
/// if a person says so, and writes the lock file.
pub(super) fn finish(
    env: &Env,
    host: &Host,
    request: install::Request<'_>,
    proposed: Option<(PathBuf, weld_policy::Policy)>,
    accept_policy: bool,
    quiet: bool,
    command: &'static str,
) -> Result<ExitCode> {
    let source = request.source.clone();
    let name = request.component.name.clone();
    let change = match request.provenance.as_ref().map(|p| p.signer.as_deref()) {
        None => format!("install {source}"),
        Some(Some(signer)) => format!("install {source} (signed by {signer})"),
        Some(None) => format!("install {source} (UNSIGNED, by an explicit opt-out)"),
    };
    let request = install::Request {
        policy: proposed
            .as_ref()
            .map(|(path, policy)| (path.as_path(), policy)),
        ..request
    };
    let spinner = progress::spinner(quiet, "checking and compiling");
    let installed = install::install(host, request);
    drop(spinner);
    let installed = installed.with_context(|| format!("{source} cannot be installed"));
    // Installs are changes of what may run: audited like policy changes.
    audit_cli_change(host.store(), command, &name, change, &installed);
    let installed = installed?;
    outln!("installed `{}` ({})", installed.name, installed.digest);
    if let Some(provenance) = host
        .store()
        .index()?
        .components
        .get(&installed.name)
        .and_then(|c| c.provenance.clone())
    {
        match provenance.signer {
            Some(signer) => outln!("  signed by {signer}"),
            None => outln!("  UNSIGNED: installed with an explicit opt-out"),
        }
    }
    print_tools(&installed.catalog)?;
    for import in &installed.imports {
        outln!("  imports {import}");
    }
    match proposed {
        None => outln!("no policy: the tool may use nothing but the clocks and randomness"),
        Some((path, policy)) => offer_policy(host, &installed, &path, &policy, accept_policy)?,
    }
    env.write_lock(host.store())?;
    Ok(ExitCode::SUCCESS)
}

/// Shows the proposed policy and applies it when accepted.
fn offer_policy(
    host: &Host,
    installed: &install::Installed,
    path: &Path,
    policy: &weld_policy::Policy,
    accept_policy: bool,
) -> Result<()> {
    outln!("\nthe component proposes this policy ({}):", path.display());
    for line in policy.to_yaml().lines() {
        outln!("  {line}");
    }
    print_pins(&installed.pins)?;
    if !(accept_policy || confirm("apply it?")?) {
        outln!(
            "policy NOT applied; the tool runs without it. To apply it later: weld policy set {} FILE",
            installed.name,
        );
        return Ok(());
    }
    // The one policy writer: it pins the storage rules again under the
    // state lock and loads the component on the engine the policy needs
    // (compiling it for fuel metering when it sets fuel), so the first
    // `weld serve` finds it in the cache.
    let written = host
        .policies()
        .set(&installed.name, policy)
        .map_err(anyhow::Error::from)
        .context("the policy was NOT applied");
    let how = if accept_policy {
        "accepted with --accept-policy"
    } else {
        "confirmed"
    };
    audit_cli_change(
        host.store(),
        "weld add",
        &installed.name,
        format!("set policy from {} ({how})", shown_path(path)),
        &written,
    );
    written?;
    outln!("policy applied");
    Ok(())
}

/// The policy offered with a local component: `--policy`, else the file
/// beside it.
fn proposed_policy_file(
    explicit: Option<&Path>,
    component: &Path,
) -> Result<Option<(PathBuf, weld_policy::Policy)>> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            // `NAME.policy.yaml`, else `policy.yaml` in the same directory
            // (the layout of Wassette's and policy-mcp's examples).
            let named = component.with_extension("policy.yaml");
            let shared = component
                .parent()
                .map(|dir| dir.join("policy.yaml"))
                .filter(|p| p.exists());
            match (named.exists(), shared) {
                (true, _) => named,
                (false, Some(shared)) => shared,
                (false, None) => return Ok(None),
            }
        }
    };
    read_policy_file(&path)
}

fn read_policy_file(path: &Path) -> Result<Option<(PathBuf, weld_policy::Policy)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let policy = super::policy::parse_policy(&text, &path.display().to_string())?;
    Ok(Some((path.to_path_buf(), policy)))
}

/// The policy layer of a fetched artifact (covered by its signature).
pub(super) fn layer_policy(fetched: &Fetched) -> Result<Option<(PathBuf, weld_policy::Policy)>> {
    let Some((media_type, bytes)) = &fetched.proposed_policy else {
        return Ok(None);
    };
    let shown = format!("{} (policy layer, {media_type})", fetched.source);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{shown}: the policy layer is not UTF-8 text"))?;
    let policy = weld_policy::Policy::parse(text).map_err(|e| anyhow::anyhow!("{shown}:{e}"))?;
    Ok(Some((PathBuf::from(shown), policy)))
}

/// Asks a yes/no question on the terminal; no terminal means no, and says
/// so (an answer piped in is not a person's).
pub(super) fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "note: not asking \"{question}\": standard input is not a terminal, so the answer is \
             no (an answer piped in is not taken; pass --accept-policy or --yes to accept)"
        );
        return Ok(false);
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
