//! Fetching a component from a registry or a URL, and proving who signed
//! it before a byte of it is kept (let alone run).
//!
//! The order is the point:
//!
//! 1. An `oci://` tag is resolved to a manifest digest **once**; from then
//!    on only that digest is fetched, so a tag moved meanwhile changes
//!    nothing. A locked install never resolves a tag at all.
//! 2. The trust policy says what the source needs ([`crate::trust`]).
//! 3. The signatures stored for that digest are verified against the
//!    trusted signers — each must name exactly this digest — before the
//!    component's layer is downloaded. No valid signature: nothing is
//!    fetched, nothing is written.
//! 4. The layer is fetched by the digest the signed manifest names, into a
//!    temporary file, and checked against it (weld-dist). Installing it
//!    then compiles nothing that the cache already holds.
//!
//! For `https://` the bytes are fetched first (the signature covers them,
//! not a manifest), then verified against a detached signature or bundle,
//! or against a digest the person gave.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use weld_dist::{DistError, FoundSignature, OciReference, Registry, Source};
use weld_store::{Digest, Provenance};
use weld_trust::{BlobSignature, ManifestSignature, Verified};

use crate::trust::{NamedSigner, Requirement, TrustPolicy};

/// A component fetched and proven.
pub struct Fetched {
    /// Its bytes (checked against the digest the signature covers).
    pub bytes: Vec<u8>,
    /// The source as recorded: the reference as given (tag kept, for
    /// people and `weld update`), the digest in `provenance`.
    pub source: String,
    /// What was proven.
    pub provenance: Provenance,
    /// The name it installs under unless given: the repository's or the
    /// file's last segment.
    pub default_name: String,
    /// The policy the artifact proposes (covered by the same signature),
    /// with its media type.
    pub proposed_policy: Option<(String, Vec<u8>)>,
}

/// What a locked install holds the source to.
pub struct Pinned<'a> {
    /// The manifest digest (oci) the lock names.
    pub manifest: Option<&'a str>,
    /// The component digest the lock names.
    pub component: &'a str,
}

/// How an `https://` source is vouched for.
pub enum HttpsProof<'a> {
    /// Look beside it: `URL.sigstore.json` (a bundle), then `URL.sig`.
    Beside,
    /// A signature or bundle file the person gave.
    File(&'a Path),
    /// A digest the person gave, which the bytes must have.
    Digest(&'a str),
}

/// Why a component was not fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The registry or server could not be used, or sent something wrong.
    #[error(transparent)]
    Dist(#[from] DistError),
    /// No trusted signer is configured for the source.
    #[error(
        "no signer is trusted for {location}: add a [[trust]] rule with its publisher's key or \
         identity to weld.toml (docs/trust.md), or, if you accept running it unsigned, an \
         [[unsigned]] entry for it"
    )]
    NoSigner {
        /// The source.
        location: String,
    },
    /// No signature verified against the trusted signers.
    #[error("{location} ({digest}) is not signed by a trusted signer: {reasons}")]
    NotSigned {
        /// The source.
        location: String,
        /// The digest that was checked.
        digest: String,
        /// Why each signature found failed, or that none was found.
        reasons: String,
    },
    /// The bytes are not the ones the lock, the signature or the person
    /// named.
    #[error("{location}: expected {expected}, got {actual}; nothing was installed")]
    DigestMismatch {
        /// The source.
        location: String,
        /// The digest required.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// A signature or temporary file could not be read.
    #[error("could not read {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
}

/// What fetching needs: a registry client, the download limits, the trust
/// policy.
pub struct Fetcher {
    registry: Registry,
    config: weld_dist::Config,
    trust: TrustPolicy,
    /// Where blobs already stored are found, so they are not downloaded
    /// again.
    store: Option<weld_store::Store>,
}

impl Fetcher {
    /// A fetcher under `config` and `trust`.
    ///
    /// # Errors
    ///
    /// When the registry client cannot be set up.
    pub fn new(config: weld_dist::Config, trust: TrustPolicy) -> Result<Self, FetchError> {
        let registry = Registry::new(config.clone())?;
        Ok(Self {
            registry,
            config,
            trust,
            store: None,
        })
    }

    /// Reuses the blobs of `store` (re-verified) instead of downloading a
    /// component layer it already holds.
    #[must_use]
    pub fn with_store(mut self, store: weld_store::Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The registry client (for `weld publish`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Fetches and proves `source` (not a local file).
    ///
    /// # Errors
    ///
    /// See [`FetchError`]; nothing is left in `dir` when it is returned.
    pub async fn fetch(
        &self,
        source: &Source,
        pinned: Option<&Pinned<'_>>,
        https_proof: &HttpsProof<'_>,
        dir: &Path,
    ) -> Result<Fetched, FetchError> {
        match source {
            Source::Oci(reference) => fetch_oci(self, reference, pinned, dir).await,
            Source::Https(url) => {
                fetch_https(&self.config, &self.trust, url, pinned, https_proof, dir).await
            }
            Source::File(path) => Err(FetchError::Io {
                path: path.clone(),
                cause: std::io::Error::other(
                    "a local file is installed from its path, not fetched",
                ),
            }),
        }
    }
}

async fn fetch_oci(
    fetcher: &Fetcher,
    reference: &OciReference,
    pinned: Option<&Pinned<'_>>,
    dir: &Path,
) -> Result<Fetched, FetchError> {
    let (registry, trust) = (&fetcher.registry, &fetcher.trust);
    let shown = reference.to_string();
    let manifest = match (pinned.and_then(|p| p.manifest), &reference.digest) {
        (Some(locked), _) => locked.to_string(),
        (None, Some(digest)) => digest.clone(),
        (None, None) => registry.resolve(reference).await?,
    };
    let by_digest = reference.with_digest(&manifest);
    let signer = match trust.requirement(&scope_text(reference)) {
        Requirement::NoSigner => return Err(FetchError::NoSigner { location: shown }),
        Requirement::Unsigned(_) => None,
        Requirement::Signed(signers) => {
            let found = registry.signatures(&by_digest, &manifest).await?;
            Some(
                verify_manifest(&found, &manifest, &signers).map_err(|reasons| {
                    FetchError::NotSigned {
                        location: shown.clone(),
                        digest: manifest.clone(),
                        reasons,
                    }
                })?,
            )
        }
    };
    // A blob the store already holds (its bytes re-hashed to the digest
    // the signed manifest names) is not downloaded again.
    let stored = |digest: &str| -> Option<Vec<u8>> {
        let digest = Digest::try_from(digest.to_string()).ok()?;
        fetcher.store.as_ref()?.read_blob(&digest).ok()
    };
    let artifact = registry
        .pull_unless(&by_digest, &manifest, dir, &|digest| {
            stored(digest).is_some()
        })
        .await?;
    let bytes = match &artifact.component {
        Some(downloaded) => {
            let bytes = read_verified(&downloaded.path, &downloaded.digest, &shown)?;
            let _ = std::fs::remove_file(&downloaded.path);
            bytes
        }
        None => stored(&artifact.component_digest).ok_or_else(|| FetchError::Io {
            path: dir.to_path_buf(),
            cause: std::io::Error::other("a stored blob vanished while it was being installed"),
        })?,
    };
    if let Some(pinned) = pinned
        && artifact.component_digest != pinned.component
    {
        return Err(FetchError::DigestMismatch {
            location: shown,
            expected: pinned.component.to_string(),
            actual: artifact.component_digest,
        });
    }
    Ok(Fetched {
        bytes,
        source: shown,
        provenance: provenance(Some(&manifest), signer.as_ref()),
        default_name: last_segment(&reference.repository),
        proposed_policy: artifact.policy.map(|p| (p.media_type, p.bytes)),
    })
}

async fn fetch_https(
    config: &weld_dist::Config,
    trust: &TrustPolicy,
    url: &url::Url,
    pinned: Option<&Pinned<'_>>,
    proof: &HttpsProof<'_>,
    dir: &Path,
) -> Result<Fetched, FetchError> {
    let shown = url.to_string();
    let requirement = trust.requirement(&shown);
    if let Requirement::NoSigner = requirement
        && !matches!(proof, HttpsProof::Digest(_))
        && pinned.is_none()
    {
        return Err(FetchError::NoSigner { location: shown });
    }
    let downloaded = weld_dist::fetch_https(url, config, dir).await?;
    let bytes = read_verified(&downloaded.path, &downloaded.digest, &shown)?;
    let _ = std::fs::remove_file(&downloaded.path);
    let digest = downloaded.digest;
    let expected = match (pinned, proof) {
        (Some(pinned), _) => Some(pinned.component.to_string()),
        (None, HttpsProof::Digest(given)) => Some((*given).to_string()),
        _ => None,
    };
    if let Some(expected) = expected
        && expected != digest
    {
        return Err(FetchError::DigestMismatch {
            location: shown,
            expected,
            actual: digest,
        });
    }
    let signer = match requirement {
        Requirement::Signed(signers) if !matches!(proof, HttpsProof::Digest(_)) => {
            let signature = https_signature(config, url, proof).await?;
            let hex = digest.trim_start_matches("sha256:");
            let found = match &signature {
                Found::Detached(text) => BlobSignature::Detached {
                    signature_b64: text.trim(),
                },
                Found::Bundle(bytes) => BlobSignature::Bundle(bytes),
            };
            let mut reasons = Vec::new();
            let mut verified = None;
            for named in &signers {
                match weld_trust::verify_blob(
                    hex,
                    Some(&bytes),
                    &found,
                    std::slice::from_ref(&named.signer),
                ) {
                    Ok(v) => {
                        verified = Some(v);
                        break;
                    }
                    Err(e) => reasons.push(format!("{}: {e}", named.label)),
                }
            }
            Some(verified.ok_or_else(|| FetchError::NotSigned {
                location: shown.clone(),
                digest: digest.clone(),
                reasons: reasons.join("; "),
            })?)
        }
        _ => None,
    };
    let default_name = url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .map(|file| weld_store::default_name(Path::new(&file)))
        .unwrap_or_else(|| "tool".to_string());
    Ok(Fetched {
        bytes,
        source: shown,
        provenance: provenance(None, signer.as_ref()),
        default_name,
        proposed_policy: None,
    })
}

enum Found {
    Detached(String),
    Bundle(Vec<u8>),
}

async fn https_signature(
    config: &weld_dist::Config,
    url: &url::Url,
    proof: &HttpsProof<'_>,
) -> Result<Found, FetchError> {
    const MAX_SIGNATURE: u64 = 1024 * 1024;
    if let HttpsProof::File(path) = proof {
        let bytes = std::fs::read(path).map_err(|cause| FetchError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        return Ok(classify(bytes));
    }
    let beside = |suffix: &str| url::Url::parse(&format!("{url}{suffix}"));
    let mut last = None;
    for suffix in [".sigstore.json", ".sig"] {
        let Ok(at) = beside(suffix) else { continue };
        match weld_dist::fetch_https_small(&at, config, MAX_SIGNATURE).await {
            Ok(bytes) => return Ok(classify(bytes)),
            Err(error) => last = Some(error),
        }
    }
    Err(FetchError::NotSigned {
        location: url.to_string(),
        digest: String::new(),
        reasons: format!(
            "no signature beside it (tried {url}.sigstore.json and {url}.sig{}); give one with \
             --signature FILE, or its digest with --digest",
            last.map(|e| format!(": {e}")).unwrap_or_default()
        ),
    })
}

fn classify(bytes: Vec<u8>) -> Found {
    if bytes.trim_ascii_start().starts_with(b"{") {
        Found::Bundle(bytes)
    } else {
        Found::Detached(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The first signature that verifies against one of `signers`, or why
/// none did.
fn verify_manifest(
    found: &[FoundSignature],
    manifest: &str,
    signers: &[&NamedSigner],
) -> Result<Verified, String> {
    if found.is_empty() {
        return Err(
            "the registry holds no signature for it (neither a sha256-….sig tag nor a \
                    Sigstore bundle referrer)"
                .to_string(),
        );
    }
    let trusted: Vec<_> = signers.iter().map(|s| s.signer.clone()).collect();
    let mut reasons = Vec::new();
    for signature in found {
        let view = match signature {
            FoundSignature::SimpleSigning {
                payload,
                signature_b64,
                certificate_pem,
                chain_pem,
                rekor_bundle_json,
            } => ManifestSignature::SimpleSigning {
                payload,
                signature_b64,
                certificate_pem: certificate_pem.as_deref(),
                chain_pem: chain_pem.as_deref(),
                rekor_bundle_json: rekor_bundle_json.as_deref(),
            },
            FoundSignature::Bundle(bytes) => ManifestSignature::Bundle(bytes),
        };
        match weld_trust::verify_manifest(&view, manifest, &trusted) {
            Ok(verified) => return Ok(verified),
            Err(error) => {
                // The same signature in both formats fails the same way;
                // say it once.
                let reason = crate::describe_error(&error);
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
        }
    }
    Err(reasons.join("; "))
}

fn read_verified(path: &Path, digest: &str, shown: &str) -> Result<Vec<u8>, FetchError> {
    let bytes = std::fs::read(path).map_err(|cause| FetchError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let actual = Digest::of(&bytes).to_string();
    if actual != digest {
        let _ = std::fs::remove_file(path);
        return Err(FetchError::DigestMismatch {
            location: shown.to_string(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

fn provenance(manifest: Option<&str>, verified: Option<&Verified>) -> Provenance {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Provenance {
        manifest: manifest.and_then(|m| Digest::try_from(m.to_string()).ok()),
        signer: verified.map(|v| v.signer.to_string()),
        verified_at: now,
    }
}

/// The text trust scopes are matched against: `oci://REGISTRY/REPOSITORY`
/// with the tag, never the digest (a scope names where, not what).
fn scope_text(reference: &OciReference) -> String {
    let mut text = format!("oci://{}/{}", reference.registry, reference.repository);
    if let Some(tag) = &reference.tag {
        text.push(':');
        text.push_str(tag);
    }
    text
}

fn last_segment(repository: &str) -> String {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    weld_store::default_name(Path::new(last))
}

/// A remote component fetched, proven and described, awaiting a person's
/// decision (the MCP install request).
pub struct Preview {
    /// What was fetched.
    pub fetched: Fetched,
    /// The name it would be installed under.
    pub name: String,
    /// The digest of its bytes.
    pub digest: String,
    /// The interfaces it imports.
    pub imports: Vec<String>,
    /// The functions it exports (its tools, unless a reason skips one).
    pub functions: Vec<String>,
}

impl Preview {
    /// What binds a person's approval to exactly this install: the name,
    /// the source, the digests and the signer.
    pub fn binding(&self) -> String {
        format!(
            "install\n{}\n{}\n{}\n{}\n{}",
            self.name,
            self.fetched.source,
            self.fetched
                .provenance
                .manifest
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.digest,
            self.fetched
                .provenance
                .signer
                .as_deref()
                .unwrap_or("unsigned"),
        )
    }
}

/// Installs remote components for a front end that asks a person first:
/// the fetch and the proof happen before the person is asked (they see
/// who signed it), the install only after.
pub struct Installer {
    host: crate::Host,
    fetcher: Fetcher,
}

/// Why an install request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallRefusal {
    /// The source is not a remote one, or not a valid reference.
    #[error("{0}")]
    Source(String),
    /// It could not be fetched or proven.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// It could not be described or installed.
    #[error(transparent)]
    Install(#[from] crate::install::InstallError),
    /// A temporary directory could not be made.
    #[error("could not create a download directory in the state directory")]
    Io(#[source] std::io::Error),
    /// Describing the component panicked.
    #[error("internal error while describing the component: {0}")]
    Internal(String),
}

impl Installer {
    /// An installer into `host`'s state through `fetcher`.
    pub fn new(host: crate::Host, fetcher: Fetcher) -> Self {
        let fetcher = fetcher.with_store(host.store().clone());
        Self { host, fetcher }
    }

    /// Fetches, proves and describes `source` (which must be `oci://` or
    /// `https://`) to be installed as `name` (or its default name).
    ///
    /// # Errors
    ///
    /// See [`InstallRefusal`]: nothing is installed either way.
    pub async fn preview(
        &self,
        source: &str,
        name: Option<&str>,
    ) -> Result<Preview, InstallRefusal> {
        let parsed = Source::parse(source).map_err(|e| InstallRefusal::Source(e.to_string()))?;
        if let Source::File(_) = parsed {
            return Err(InstallRefusal::Source(format!(
                "`{source}` is a local path; only a person installs local files (weld add PATH)"
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".fetch")
            .tempdir_in(self.host.store().root().join("blobs").join("sha256"))
            .map_err(InstallRefusal::Io)?;
        let fetched = self
            .fetcher
            .fetch(&parsed, None, &HttpsProof::Beside, tmp.path())
            .await?;
        let name = name.map_or_else(|| fetched.default_name.clone(), str::to_string);
        weld_store::validate_name(&name).map_err(|e| InstallRefusal::Source(e.to_string()))?;
        // Hashing and describing a component of tens of MiB is CPU work: off
        // the async workers that serve every other client.
        let runtime = std::sync::Arc::clone(self.host.runtime());
        let (fetched, digest, inspection) = tokio::task::spawn_blocking(move || {
            let inspection = runtime.inspect(&fetched.bytes);
            let digest = Digest::of(&fetched.bytes).to_string();
            (fetched, digest, inspection)
        })
        .await
        .map_err(|e| InstallRefusal::Internal(e.to_string()))?;
        let inspection = inspection.map_err(crate::install::InstallError::Runtime)?;
        Ok(Preview {
            digest,
            imports: inspection.imports,
            functions: inspection
                .functions
                .iter()
                .map(|f| f.name.clone())
                .collect(),
            name,
            fetched,
        })
    }

    /// Installs what `preview` fetched (never replacing an installed
    /// component); its proposed policy is not applied: a person does that.
    ///
    /// # Errors
    ///
    /// See [`crate::install::InstallError`].
    pub fn install(&self, preview: Preview) -> Result<crate::install::Installed, InstallRefusal> {
        let component = crate::load::component_from_bytes(
            preview.fetched.bytes,
            preview.name,
            Path::new(&preview.fetched.source),
        )
        .map_err(crate::install::InstallError::Read)?;
        let request = crate::install::Request {
            component,
            source: preview.fetched.source,
            provenance: Some(preview.fetched.provenance),
            force: false,
            policy: None,
        };
        Ok(crate::install::install(&self.host, request)?)
    }
}
