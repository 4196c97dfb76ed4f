//! weld-dist moves a tool's bytes from where it is published to a local
//! file, and publishes them: OCI registries (the CNCF Wasm OCI artifact
//! layout, cosign signatures and Sigstore bundles as OCI 1.1 referrers) and
//! HTTPS downloads.
//!
//! It only moves bytes. It verifies no signature (that is `weld-trust`'s),
//! writes nothing but temporary files in a directory it is given, and knows no
//! other weld crate. What it does guarantee:
//!
//! - Every byte it returns was checked against the digest it was asked for by:
//!   a manifest is fetched by digest and hashed (the `Docker-Content-Digest`
//!   header is never trusted alone), layers and signature blobs are hashed as
//!   they stream.
//! - Every read is capped: a layer whose declared size is over the cap is
//!   refused before it is requested, a stream longer than declared is cut,
//!   manifests, referrer indexes and signature blobs are capped at
//!   [`MAX_METADATA_BYTES`].
//! - Plain HTTP only to registries listed in [`Config::insecure_registries`];
//!   redirects only to `https://` (or back to such a registry).
//! - On any error, nothing is left in the download directory.
//!
//! TLS is rustls with the *ring* provider; no OpenSSL, no aws-lc. Only the
//! registry token dance (`WWW-Authenticate: Bearer` → token) is delegated to
//! `oci-client`; reads and writes are our own requests, so that every one is
//! capped and none can panic on what a registry sends.

#![forbid(unsafe_code)]

mod auth;
mod error;
mod http;
mod manifest;
mod registry;
mod signatures;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::DistError;
pub use http::{fetch_https, fetch_https_small};
pub use registry::Registry;
pub use source::{OciReference, Source};

/// Cap on any manifest, referrer index, signature manifest or signature blob
/// read from a registry. Real ones are a few KiB.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;

/// The CNCF Wasm OCI artifact config media type.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The CNCF Wasm OCI artifact layer media type (one component).
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Policy layer media types accepted on pull; the first is written on push.
pub const POLICY_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.wasm.policy.v1+yaml",
    "application/vnd.wassette.policy+yaml",
];
/// cosign's legacy simple-signing layer media type.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The Sigstore bundle media type (and referrer `artifactType`).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// How to reach registries and HTTPS servers, and how much to accept.
#[derive(Clone)]
pub struct Config {
    /// `host[:port]` of registries reached over plain HTTP, e.g.
    /// `127.0.0.1:5000`. Every other registry is HTTPS only.
    pub insecure_registries: Vec<String>,
    /// Cap on a component layer or HTTPS download (default 64 MiB).
    pub max_component_bytes: u64,
    /// Cap on a policy layer (default 1 MiB).
    pub max_policy_bytes: u64,
    /// The docker `config.json` to read credentials from. `None`:
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, if present.
    pub docker_config: Option<PathBuf>,
    /// Run the `credsStore` / `credHelpers` programs that `config.json` names
    /// (default false: they are programs, and run only when asked).
    pub credential_helpers: bool,
    /// Connect timeout, and the longest wait for the next bytes of an answer.
    pub timeout: Duration,
    /// Called as bytes arrive; the binary draws a progress bar with it.
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            insecure_registries: Vec::new(),
            max_component_bytes: 64 * 1024 * 1024,
            max_policy_bytes: 1024 * 1024,
            docker_config: None,
            credential_helpers: false,
            timeout: Duration::from_secs(30),
            progress: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("insecure_registries", &self.insecure_registries)
            .field("max_component_bytes", &self.max_component_bytes)
            .field("max_policy_bytes", &self.max_policy_bytes)
            .field("docker_config", &self.docker_config)
            .field("credential_helpers", &self.credential_helpers)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How far a download has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What is being downloaded (a URL or `oci://…` reference).
    pub what: String,
    /// Bytes received so far.
    pub done: u64,
    /// Bytes expected, when known.
    pub total: Option<u64>,
}

/// A pulled artifact: the manifest it was pulled by and its layers.
#[derive(Debug)]
pub struct Artifact {
    /// `sha256:…` of `manifest`.
    pub manifest_digest: String,
    /// The manifest bytes, exactly as received and hashed.
    pub manifest: Vec<u8>,
    /// The component layer's digest, as the manifest names it.
    pub component_digest: String,
    /// The component, in a temporary file; `None` when the caller said it
    /// already has these bytes ([`Registry::pull_unless`]).
    pub component: Option<Downloaded>,
    /// The proposed policy, if the artifact carries one.
    pub policy: Option<PolicyLayer>,
}

/// A downloaded file whose digest has been checked.
#[derive(Debug)]
pub struct Downloaded {
    /// A file inside the directory given to the download, fsynced; the caller
    /// moves it into place or removes it.
    pub path: PathBuf,
    /// `sha256:…` of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A policy layer's bytes (digest checked) and its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLayer {
    /// One of [`POLICY_MEDIA_TYPES`].
    pub media_type: String,
    /// The policy document.
    pub bytes: Vec<u8>,
}

/// A signature found for a manifest digest, as stored; not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundSignature {
    /// A layer of the legacy `sha256-<hex>.sig` tag.
    SimpleSigning {
        /// The signed payload (the simple-signing JSON).
        payload: Vec<u8>,
        /// `dev.cosignproject.cosign/signature`.
        signature_b64: String,
        /// `dev.sigstore.cosign/certificate`.
        certificate_pem: Option<String>,
        /// `dev.sigstore.cosign/chain`.
        chain_pem: Option<String>,
        /// `dev.sigstore.cosign/bundle` (the Rekor bundle).
        rekor_bundle_json: Option<String>,
    },
    /// A Sigstore bundle (v0.3) attached as an OCI 1.1 referrer.
    Bundle(Vec<u8>),
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
