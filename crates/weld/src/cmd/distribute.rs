//! The distribution commands: `weld sync` (install exactly a lock file),
//! `weld update` (a newer version, with what changed), and the
//! publisher's side: `weld keygen`, `weld sign`, `weld publish`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use weld_dist::{OciReference, Registry, Source};
use weld_host::distribution::{HttpsProof, Pinned};
use weld_host::install;
use weld_host::lockfile::{Lock, LockedTool, policy_digest};
use weld_trust::SigningKey;

use super::add::{confirm, fetch, finish, layer_policy};
use super::{Env, describe};
use crate::cli::{self, SignatureFormat};

/// `weld sync`: make the installed tools exactly the lock file's.
pub(super) async fn sync(env: &Env, args: &cli::SyncArgs) -> Result<ExitCode> {
    let path = match &args.lock_file {
        Some(path) => path.clone(),
        None => env.lock_path()?,
    };
    let lock = Lock::read(&path)?;
    let policies = path.parent().unwrap_or(Path::new(".")).join("policies");
    let host = env.granting_host()?;
    let store = host.store();
    let mut failed = 0;
    for tool in &lock.tools {
        let installed = store.index()?.components.get(&tool.name).cloned();
        let current = installed.as_ref().is_some_and(|c| {
            c.digest.as_str() == tool.component && store.read_blob(&c.digest).is_ok()
        });
        let result = if current {
            outln!("`{}` is installed at {}", tool.name, tool.component);
            Ok(())
        } else {
            sync_one(env, &host, tool, args.quiet).await
        };
        let result = result.and_then(|()| sync_policy(&host, tool, &policies));
        if let Err(error) = result {
            failed += 1;
            eprintln!(
                "error: `{}` was not synced: {}",
                tool.name,
                describe(&error)
            );
        }
    }
    let named: BTreeSet<&str> = lock.tools.iter().map(|t| t.name.as_str()).collect();
    for name in store.index()?.components.keys() {
        if !named.contains(name.as_str()) {
            store.remove(name)?;
            outln!("removed `{name}` (not in the lock file)");
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} tools could not be synced (see above)",
            lock.tools.len()
        );
    }
    outln!("{} tools in sync with {}", lock.tools.len(), path.display());
    Ok(ExitCode::SUCCESS)
}

/// Installs one locked tool: by digest, its signer checked against the one
/// the lock names.
async fn sync_one(env: &Env, host: &weld_host::Host, tool: &LockedTool, quiet: bool) -> Result<()> {
    let source = Source::parse(&tool.source)?;
    let request = match &source {
        Source::File(path) => {
            let mut request = install::Request::file(path, Some(&tool.name))?;
            if request.component.digest.as_str() != tool.component {
                bail!(
                    "{} now has digest {}, the lock file names {}",
                    path.display(),
                    request.component.digest,
                    tool.component
                );
            }
            request.force = true;
            request
        }
        remote => {
            let pinned = Pinned {
                manifest: tool.manifest.as_deref(),
                component: &tool.component,
            };
            // A tool locked unsigned was accepted unsigned by whoever wrote
            // the lock; its bytes are pinned by digest all the same.
            let unsigned = tool.signer.is_none();
            let fetched = fetch(
                env,
                remote,
                unsigned,
                quiet,
                Some(&pinned),
                &HttpsProof::Beside,
            )
            .await?;
            let signer = fetched.provenance.signer.as_deref();
            if tool.signer.is_some() && signer != tool.signer.as_deref() {
                bail!(
                    "it is signed by {}, the lock file names {}; if the publisher changed \
                     keys, check with them, then `weld update {}`",
                    signer.unwrap_or("nobody"),
                    tool.signer.as_deref().unwrap_or("nobody"),
                    tool.name
                );
            }
            let component = weld_host::load::component_from_bytes(
                fetched.bytes,
                tool.name.clone(),
                Path::new(&fetched.source),
            )?;
            install::Request {
                component,
                source: fetched.source,
                provenance: Some(fetched.provenance),
                force: true,
                policy: None,
            }
        }
    };
    let change = format!(
        "install {} ({}) from the lock file",
        request.source,
        tool.signer
            .as_deref()
            .map_or_else(|| "unsigned".to_string(), |s| format!("signed by {s}"))
    );
    let installed = install::install(host, request).map_err(anyhow::Error::from);
    super::policy::audit_cli_change(host.store(), "weld sync", &tool.name, change, &installed);
    let installed = installed?;
    outln!("installed `{}` ({})", installed.name, installed.digest);
    Ok(())
}

/// Applies the approved policy the lock pins, if it names one: the file
/// beside the lock must have exactly that digest.
fn sync_policy(host: &weld_host::Host, tool: &LockedTool, policies: &Path) -> Result<()> {
    let Some(expected) = &tool.policy else {
        return Ok(());
    };
    let current = host.store().read_policy(&tool.name)?;
    if current.as_deref().map(policy_digest).as_ref() == Some(expected) {
        return Ok(());
    }
    let file = policies.join(format!("{}.yaml", tool.name));
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "the lock file pins a policy for it; reading {}",
            file.display()
        )
    })?;
    let actual = policy_digest(&text);
    if &actual != expected {
        bail!(
            "{} has digest {actual}, the lock file pins {expected}: it was changed after the \
             lock was written; not applied",
            file.display()
        );
    }
    let policy =
        weld_policy::Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", file.display()))?;
    host.policies().set(&tool.name, &policy)?;
    outln!("applied the policy of `{}` ({expected})", tool.name);
    Ok(())
}

/// `weld update NAME`.
pub(super) async fn update(env: &Env, args: &cli::UpdateArgs) -> Result<ExitCode> {
    let host = env.granting_host()?;
    let index = host.store().index()?;
    let installed = index
        .components
        .get(&args.name)
        .with_context(|| format!("`{}` is not installed", args.name))?;
    let source = Source::parse(installed.source.trim_start_matches("file:"))?;
    let (request, proposed) = match &source {
        Source::File(path) => (install::Request::file(path, Some(&args.name))?, None),
        remote => {
            // The opt-out it was installed under still holds; nothing
            // signed before may come back unsigned.
            let was_unsigned = installed
                .provenance
                .as_ref()
                .is_some_and(|p| p.signer.is_none());
            let fetched = fetch(
                env,
                remote,
                was_unsigned,
                args.quiet,
                None,
                &HttpsProof::Beside,
            )
            .await?;
            let proposed = layer_policy(&fetched)?;
            let component = weld_host::load::component_from_bytes(
                fetched.bytes,
                args.name.clone(),
                Path::new(&fetched.source),
            )?;
            let request = install::Request {
                component,
                source: fetched.source,
                provenance: Some(fetched.provenance),
                force: true,
                policy: None,
            };
            (request, proposed)
        }
    };
    if request.component.digest == installed.digest {
        outln!("`{}` is up to date ({})", args.name, installed.digest);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "`{}`: {} -> {}",
        args.name,
        installed.digest,
        request.component.digest
    );
    let old_signer = installed.provenance.as_ref().and_then(|p| p.signer.clone());
    let new_signer = request.provenance.as_ref().and_then(|p| p.signer.clone());
    if old_signer != new_signer {
        outln!(
            "  SIGNER CHANGED: {} -> {}",
            old_signer.as_deref().unwrap_or("unsigned"),
            new_signer.as_deref().unwrap_or("unsigned")
        );
    }
    let imports = host.runtime().inspect(&request.component.bytes)?.imports;
    let old: BTreeSet<&String> = installed.imports.iter().collect();
    for import in imports.iter().filter(|i| !old.contains(i)) {
        outln!("  NEW IMPORT: {import}");
    }
    if let Some((path, policy)) = &proposed {
        let current = host.store().read_policy(&args.name)?.unwrap_or_default();
        if policy.to_yaml() != current {
            outln!("  the new version proposes a policy ({}):", path.display());
            for line in policy.to_yaml().lines() {
                outln!("    {line}");
            }
        }
    }
    if !(args.yes || confirm("install the new version?")?) {
        outln!("not updated (run again with --yes to accept)");
        return Ok(ExitCode::FAILURE);
    }
    finish(
        env,
        &host,
        request,
        proposed,
        args.yes,
        args.quiet,
        "weld update",
    )
}

/// `weld keygen`.
pub(super) fn keygen(output: &Path) -> Result<ExitCode> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = SigningKey::generate()?;
    let private = output.with_extension("key");
    let public = output.with_extension("pub");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .with_context(|| {
            format!(
                "creating {} (an existing key is never overwritten)",
                private.display()
            )
        })?;
    file.write_all(key.to_pem().as_bytes())?;
    file.sync_all()?;
    std::fs::write(&public, key.public_key().to_pem())
        .with_context(|| format!("writing {}", public.display()))?;
    outln!("private key: {} (keep it secret)", private.display());
    outln!(
        "public key:  {} ({})",
        public.display(),
        key.public_key().key_id()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pem(&pem)
        .with_context(|| format!("{} is not a usable private key", path.display()))
}

fn registry(env: &Env) -> Result<Registry> {
    Ok(Registry::new(env.config()?.dist)?)
}

fn oci_reference(text: &str) -> Result<OciReference> {
    match Source::parse(text)? {
        Source::Oci(reference) => Ok(reference),
        _ => bail!("`{text}` is not an oci:// reference"),
    }
}

/// `weld sign`.
pub(super) async fn sign(env: &Env, args: &cli::SignArgs) -> Result<ExitCode> {
    let key = read_key(&args.key)?;
    if !args.target.starts_with("oci://") {
        let path = PathBuf::from(&args.target);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let signature = path.with_extension(format!(
            "{}sig",
            path.extension()
                .map(|e| format!("{}.", e.to_string_lossy()))
                .unwrap_or_default()
        ));
        std::fs::write(&signature, weld_trust::sign_blob(&key, &bytes))
            .with_context(|| format!("writing {}", signature.display()))?;
        outln!("wrote {}", signature.display());
        return Ok(ExitCode::SUCCESS);
    }
    let reference = oci_reference(&args.target)?;
    let registry = registry(env)?;
    let digest = match &reference.digest {
        Some(digest) => digest.clone(),
        None => registry.resolve(&reference).await?,
    };
    sign_manifest(&registry, &reference, &digest, &key, args.format).await?;
    Ok(ExitCode::SUCCESS)
}

async fn sign_manifest(
    registry: &Registry,
    reference: &OciReference,
    digest: &str,
    key: &SigningKey,
    format: SignatureFormat,
) -> Result<()> {
    let by_digest = reference.with_digest(digest);
    if matches!(format, SignatureFormat::Simple | SignatureFormat::Both) {
        let docker_reference = format!("{}/{}", reference.registry, reference.repository);
        let payload = weld_trust::simple_signing_payload(&docker_reference, digest);
        let signature = weld_trust::sign_blob(key, &payload);
        registry
            .push_simple_signature(&by_digest, digest, &payload, &signature)
            .await?;
        outln!("signed {digest} (simple signing, sha256-….sig tag)");
    }
    if matches!(format, SignatureFormat::Bundle | SignatureFormat::Both) {
        let bundle = weld_trust::sign_bundle(key, digest)?;
        registry.push_bundle(&by_digest, digest, &bundle).await?;
        outln!("signed {digest} (Sigstore bundle referrer)");
    }
    Ok(())
}

/// `weld publish`.
pub(super) async fn publish(env: &Env, args: &cli::PublishArgs) -> Result<ExitCode> {
    let reference = oci_reference(&args.reference)?;
    if reference.tag.is_none() || reference.digest.is_some() {
        bail!("publish to a tag: oci://REGISTRY/REPO:TAG");
    }
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let policy_path = match &args.policy {
        Some(path) => Some(path.clone()),
        None => Some(args.component.with_extension("policy.yaml")).filter(|p| p.exists()),
    };
    let policy = match &policy_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            // Published only if weld itself would accept it.
            weld_policy::Policy::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
            Some(text.into_bytes())
        }
        None => None,
    };
    let registry = registry(env)?;
    let digest = registry.push(&reference, &bytes, policy.as_deref()).await?;
    outln!("published {} ({digest})", reference);
    if let Some(key) = &args.key {
        sign_manifest(&registry, &reference, &digest, &read_key(key)?, args.format).await?;
    }
    Ok(ExitCode::SUCCESS)
}
