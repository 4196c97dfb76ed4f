//! `Registry`: resolve, pull and push CNCF Wasm artifacts over the OCI
//! distribution API.
//!
//! A `Session` is one reference's repository with its `Authorization` header
//! worked out once (`oci-client` does the bearer-token dance); every request
//! after that is ours, so each read is capped and each digest checked here.
//! The header is sent only to the registry itself: a blob redirected or an
//! upload located elsewhere (object storage) gets none.

use std::sync::Arc;

use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use reqwest::header::{self, HeaderValue};

use crate::auth::DockerConfig;
use crate::error::{chain, printable};
use crate::http::{self, Expect, PlainHttp};
use crate::manifest::{self, Descriptor, MANIFEST_ACCEPT, Manifest, OCI_MANIFEST, WasmConfig};
use crate::source::check_digest;
use crate::{
    Artifact, Config, DistError, MAX_METADATA_BYTES, OciReference, POLICY_MEDIA_TYPES, PolicyLayer,
    WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, sha256_digest,
};

/// A client for OCI registries, with one configuration and one set of
/// credentials. Cheap to keep; each operation authenticates afresh.
pub struct Registry {
    pub(crate) config: Config,
    http: reqwest::Client,
    oci: oci_client::Client,
    docker: DockerConfig,
    plain_http: PlainHttp,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Docker Hub's API host, as `oci-client` resolves it (tokens are cached
/// under that name).
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    }
}

impl Registry {
    /// Builds the HTTP clients and reads the docker config (an explicitly
    /// named one must exist; a malformed one is an error naming it).
    pub fn new(config: Config) -> Result<Self, DistError> {
        http::install_ring();
        let plain_http = PlainHttp(Arc::new(config.insecure_registries.clone()));
        let http = http::client(&config, plain_http.clone())?;
        let oci_config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                config.insecure_registries.clone(),
            ),
            read_timeout: Some(config.timeout),
            connect_timeout: Some(config.timeout),
            user_agent: concat!("weld/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let oci = oci_client::Client::try_from(oci_config).map_err(|e| match e {
            OciDistributionError::RequestError(e) => DistError::Client(e),
            other => DistError::malformed("the registry client", chain(&other)),
        })?;
        let docker = DockerConfig::load(&config)?;
        Ok(Registry {
            config,
            http,
            oci,
            docker,
            plain_http,
        })
    }

    /// Opens a session on `reference`'s repository: checks the reference,
    /// finds credentials, and gets a token if the registry wants one.
    pub(crate) async fn session<'a>(
        &'a self,
        reference: &'a OciReference,
        operation: RegistryOperation,
    ) -> Result<Session<'a>, DistError> {
        reference.validate()?;
        let target = format!("registry {}", reference.registry);
        let host = api_host(&reference.registry);
        let scheme = if self
            .config
            .insecure_registries
            .contains(&reference.registry)
        {
            "http"
        } else {
            "https"
        };
        let base = format!("{scheme}://{host}/v2/{}", reference.repository);
        let origin = url::Url::parse(&base)
            .map_err(|e| DistError::malformed(&target, format!("bad registry URL {base}: {e}")))?;
        let hint = self
            .docker
            .hint(&reference.registry, self.config.credential_helpers);
        let auth = self
            .docker
            .credentials(
                &reference.registry,
                self.config.credential_helpers,
                self.config.timeout,
            )
            .await?;
        let oci_reference = oci_client::Reference::with_tag(
            reference.registry.clone(),
            reference.repository.clone(),
            "latest".into(),
        );
        let token = self
            .oci
            .auth(&oci_reference, &auth, operation)
            .await
            .map_err(|e| {
                let err = oci_error(&target, &hint, e);
                if scheme == "https" {
                    with_plain_http_hint(err, &reference.registry)
                } else {
                    err
                }
            })?;
        let value = match (token, &auth) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine as _;
                let pair = format!("{user}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, _) => None,
        };
        let authorization = value
            .map(|v| {
                let mut value = HeaderValue::from_str(&v).map_err(|_| DistError::Credentials {
                    registry: reference.registry.clone(),
                    reason: "they contain characters an HTTP header cannot carry".into(),
                })?;
                value.set_sensitive(true);
                Ok::<_, DistError>(value)
            })
            .transpose()?;
        Ok(Session {
            registry: self,
            reference,
            target,
            base,
            origin,
            authorization,
            hint,
        })
    }

    /// Resolves a tag (or checks a digest) to the manifest digest, computed
    /// from the manifest bytes.
    pub async fn resolve(&self, reference: &OciReference) -> Result<String, DistError> {
        let session = self.session(reference, RegistryOperation::Pull).await?;
        let Some(part) = reference.digest.as_deref().or(reference.tag.as_deref()) else {
            return Err(DistError::InvalidSource {
                text: reference.to_string(),
                reason: "name a tag or a digest".into(),
            });
        };
        let bytes = session.manifest(part).await?;
        Ok(sha256_digest(&bytes))
    }

    /// Pulls the artifact whose manifest has `manifest_digest`: checks the
    /// manifest's bytes and its CNCF Wasm layout, refuses layers over the
    /// caps before fetching them, and streams the component into a temporary
    /// file in `dir`. On error nothing is left in `dir`.
    pub async fn pull(
        &self,
        reference: &OciReference,
        manifest_digest: &str,
        dir: &std::path::Path,
    ) -> Result<Artifact, DistError> {
        self.pull_unless(reference, manifest_digest, dir, &|_| false)
            .await
    }

    /// As [`Registry::pull`], except that the component layer is not
    /// downloaded when `have` says the caller already has a blob of its
    /// digest (`component` is then `None`): installing a digest already
    /// stored costs the manifest and the policy layer, not the component.
    pub async fn pull_unless(
        &self,
        reference: &OciReference,
        manifest_digest: &str,
        dir: &std::path::Path,
        have: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Artifact, DistError> {
        let pinned = reference.with_digest(manifest_digest);
        let session = self.session(&pinned, RegistryOperation::Pull).await?;
        let manifest = session.manifest(manifest_digest).await?;
        let layout = manifest::wasm_layout(&manifest).map_err(|reason| DistError::NotWasm {
            reference: pinned.to_string(),
            reason,
        })?;
        let component = &layout.component;
        if component.size > self.config.max_component_bytes {
            return Err(DistError::too_large(
                &session.target,
                "the component layer",
                component.size,
                self.config.max_component_bytes,
            ));
        }
        let policy = match &layout.policy {
            Some(layer) => {
                let bytes = session
                    .blob(layer, self.config.max_policy_bytes, "the policy layer")
                    .await?;
                Some(PolicyLayer {
                    media_type: layer.media_type.clone(),
                    bytes,
                })
            }
            None => None,
        };
        if have(&component.digest) {
            return Ok(Artifact {
                manifest_digest: manifest_digest.to_owned(),
                manifest,
                component_digest: component.digest.clone(),
                component: None,
                policy,
            });
        }
        let response = session
            .get_blob_response(component, "the component layer")
            .await?;
        let what = pinned.to_string();
        let expect = Expect {
            target: &session.target,
            what: &what,
            limit: self.config.max_component_bytes,
            size: Some(component.size),
            digest: Some(&component.digest),
        };
        let downloaded =
            http::stream_to_file(response, &expect, dir, self.config.progress.as_ref()).await?;
        Ok(Artifact {
            manifest_digest: manifest_digest.to_owned(),
            manifest,
            component_digest: component.digest.clone(),
            component: Some(downloaded),
            policy,
        })
    }

    /// Publishes `component` (and `policy`) in the CNCF Wasm layout under the
    /// reference's tag (or, without one, by digest only); returns the
    /// manifest digest.
    pub async fn push(
        &self,
        reference: &OciReference,
        component: &[u8],
        policy: Option<&[u8]>,
    ) -> Result<String, DistError> {
        let target = format!("registry {}", reference.registry);
        if component.is_empty() {
            return Err(DistError::InvalidSource {
                text: reference.to_string(),
                reason: "the component to publish is empty".into(),
            });
        }
        let limits = [
            (
                component.len() as u64,
                self.config.max_component_bytes,
                "the component",
            ),
            (
                policy.map_or(0, |p| p.len() as u64),
                self.config.max_policy_bytes,
                "the policy",
            ),
        ];
        for (size, limit, what) in limits {
            if size > limit {
                // Publishing what weld would refuse to pull helps no one.
                return Err(DistError::too_large(&target, what, size, limit));
            }
        }
        let session = self.session(reference, RegistryOperation::Push).await?;
        let mut layers = vec![(Descriptor::of(WASM_LAYER_MEDIA_TYPE, component), component)];
        if let Some(policy) = policy {
            layers.push((Descriptor::of(POLICY_MEDIA_TYPES[0], policy), policy));
        }
        let created = now_rfc3339();
        let config = serde_json::to_vec(&WasmConfig {
            created: created.clone(),
            architecture: "wasm",
            os: "wasip2",
            layer_digests: layers.iter().map(|(d, _)| d.digest.clone()).collect(),
        })
        .map_err(|e| DistError::malformed(&target, format!("cannot encode the config: {e}")))?;
        let config_descriptor = Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config);
        session.put_blob(&config_descriptor, &config).await?;
        for (descriptor, bytes) in &layers {
            session.put_blob(descriptor, bytes).await?;
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: config_descriptor,
            layers: layers.into_iter().map(|(d, _)| d).collect(),
            subject: None,
            annotations: [("org.opencontainers.image.created".to_owned(), created)].into(),
        };
        let bytes = encode(&target, &manifest)?;
        let digest = sha256_digest(&bytes);
        if let Some(pinned) = &reference.digest
            && *pinned != digest
        {
            return Err(DistError::InvalidSource {
                text: reference.to_string(),
                reason: format!("the manifest to publish has digest {digest}; publish by tag"),
            });
        }
        let part = reference.tag.as_deref().unwrap_or(&digest);
        session.put_manifest(part, &bytes, OCI_MANIFEST).await?;
        Ok(digest)
    }
}

pub(crate) fn encode<T: serde::Serialize>(target: &str, value: &T) -> Result<Vec<u8>, DistError> {
    serde_json::to_vec(value)
        .map_err(|e| DistError::malformed(target, format!("cannot encode a manifest: {e}")))
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `oci-client`'s errors (from the token dance) in our categories. Server
/// text is cut short: it is for a person, and the server decides its length.
fn oci_error(target: &str, hint: &str, err: OciDistributionError) -> DistError {
    match err {
        OciDistributionError::RequestError(e) => DistError::transport(target, e),
        OciDistributionError::AuthenticationFailure(message)
        | OciDistributionError::UnauthorizedError { url: message } => DistError::Auth {
            target: target.to_owned(),
            status: 401,
            hint: format!(
                "the token service refused ({}); {hint}",
                printable(&message)
            ),
        },
        other => DistError::malformed(target, printable(&chain(&other))),
    }
}

/// A registry that cannot be reached over HTTPS may be serving plain HTTP;
/// say how to allow that, since the TLS error alone does not.
fn with_plain_http_hint(err: DistError, registry: &str) -> DistError {
    let hint = format!(
        " (weld speaks only HTTPS to {registry}; if it serves plain HTTP and you trust the network, list it with --insecure-registry {registry})"
    );
    match err {
        DistError::Unreachable {
            target,
            mut detail,
            source,
        } => {
            detail.push_str(&hint);
            DistError::Unreachable {
                target,
                detail,
                source,
            }
        }
        DistError::Malformed {
            target,
            mut reason,
            source,
        } => {
            reason.push_str(&hint);
            DistError::Malformed {
                target,
                reason,
                source,
            }
        }
        other => other,
    }
}

/// One repository on one registry, authenticated.
pub(crate) struct Session<'a> {
    registry: &'a Registry,
    pub(crate) reference: &'a OciReference,
    pub(crate) target: String,
    base: String,
    origin: url::Url,
    authorization: Option<HeaderValue>,
    hint: String,
}

impl Session<'_> {
    /// A request carrying our credentials only if it goes to the registry.
    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        let same_origin = url.scheme() == self.origin.scheme()
            && url.host() == self.origin.host()
            && url.port_or_known_default() == self.origin.port_or_known_default();
        let builder = self.registry.http.request(method, url);
        match (&self.authorization, same_origin) {
            (Some(value), true) => builder.header(header::AUTHORIZATION, value.clone()),
            _ => builder,
        }
    }

    fn url(&self, path: &str) -> Result<url::Url, DistError> {
        let text = format!("{}/{path}", self.base);
        url::Url::parse(&text)
            .map_err(|e| DistError::malformed(&self.target, format!("bad URL {text}: {e}")))
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, DistError> {
        let response = builder
            .send()
            .await
            .map_err(|e| DistError::transport(&self.target, e))?;
        http::check_status(response, &self.target, what, &self.hint).await
    }

    /// GETs a manifest by tag or digest (capped); returns `None` on 404.
    /// By digest, the bytes must hash to it; by tag, a `Docker-Content-Digest`
    /// header, when sent, must agree with the hash of the bytes.
    pub(crate) async fn manifest_if_any(&self, part: &str) -> Result<Option<Vec<u8>>, DistError> {
        let what = format!("manifest {part} in {}", self.reference.repository);
        let builder = self
            .request(
                reqwest::Method::GET,
                self.url(&format!("manifests/{part}"))?,
            )
            .header(header::ACCEPT, MANIFEST_ACCEPT);
        let response = match self.send(builder, &what).await {
            Err(DistError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = http::read_capped(response, &self.target, &what, MAX_METADATA_BYTES).await?;
        let actual = sha256_digest(&bytes);
        let expected = if check_digest(part).is_ok() {
            Some(part.to_owned())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(DistError::DigestMismatch {
                target: self.target.clone(),
                what,
                expected,
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// `manifest_if_any`, with 404 an error.
    pub(crate) async fn manifest(&self, part: &str) -> Result<Vec<u8>, DistError> {
        self.manifest_if_any(part)
            .await?
            .ok_or_else(|| DistError::NotFound {
                target: self.target.clone(),
                what: format!("manifest {part} in {}", self.reference.repository),
            })
    }

    pub(crate) async fn get_blob_response(
        &self,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<reqwest::Response, DistError> {
        check_digest(&descriptor.digest).map_err(|e| DistError::malformed(&self.target, e))?;
        let url = self.url(&format!("blobs/{}", descriptor.digest))?;
        self.send(self.request(reqwest::Method::GET, url), what)
            .await
    }

    /// A small blob into memory: its declared size checked against `limit`
    /// first, then its bytes against size and digest.
    pub(crate) async fn blob(
        &self,
        descriptor: &Descriptor,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, DistError> {
        if descriptor.size > limit {
            return Err(DistError::too_large(
                &self.target,
                what,
                descriptor.size,
                limit,
            ));
        }
        let response = self.get_blob_response(descriptor, what).await?;
        let bytes = http::read_capped(response, &self.target, what, descriptor.size).await?;
        if bytes.len() as u64 != descriptor.size {
            return Err(DistError::malformed(
                &self.target,
                format!(
                    "{what} is {} bytes, its manifest says {}",
                    bytes.len(),
                    descriptor.size
                ),
            ));
        }
        let actual = sha256_digest(&bytes);
        if actual != descriptor.digest {
            return Err(DistError::DigestMismatch {
                target: self.target.clone(),
                what: what.to_owned(),
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Uploads a blob unless the registry has it: POST to open an upload,
    /// PUT the bytes to the location it names with the digest.
    pub(crate) async fn put_blob(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), DistError> {
        let what = format!("blob {}", descriptor.digest);
        let head = self.request(
            reqwest::Method::HEAD,
            self.url(&format!("blobs/{}", descriptor.digest))?,
        );
        match self.send(head, &what).await {
            Ok(_) => return Ok(()),
            Err(DistError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let post = self.request(reqwest::Method::POST, self.url("blobs/uploads/")?);
        let response = self.send(post, "a blob upload").await?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                DistError::malformed(&self.target, "a blob upload without a Location")
            })?;
        let mut url = response.url().join(location).map_err(|e| {
            DistError::malformed(&self.target, format!("upload location {location}: {e}"))
        })?;
        if !self.registry.plain_http.allows(&url) {
            return Err(DistError::malformed(
                &self.target,
                format!("upload location {url} is not https"),
            ));
        }
        url.query_pairs_mut()
            .append_pair("digest", &descriptor.digest);
        let put = self
            .request(reqwest::Method::PUT, url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec());
        self.send(put, &what).await?;
        Ok(())
    }

    /// PUTs a manifest under a tag or its digest.
    pub(crate) async fn put_manifest(
        &self,
        part: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), DistError> {
        let what = format!("manifest {part}");
        let put = self
            .request(
                reqwest::Method::PUT,
                self.url(&format!("manifests/{part}"))?,
            )
            .header(header::CONTENT_TYPE, media_type)
            .body(bytes.to_vec());
        let response = self.send(put, &what).await?;
        let expected = sha256_digest(bytes);
        if let Some(stored) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && stored != expected
        {
            return Err(DistError::DigestMismatch {
                target: self.target.clone(),
                what: format!("the manifest it stored as {part}"),
                expected,
                actual: stored.to_owned(),
            });
        }
        Ok(())
    }

    /// The referrers API's index for `digest`, or `None` when the registry
    /// lacks the API (404, as the spec says such registries answer).
    pub(crate) async fn referrers_api(&self, digest: &str) -> Result<Option<Vec<u8>>, DistError> {
        let builder = self
            .request(
                reqwest::Method::GET,
                self.url(&format!("referrers/{digest}"))?,
            )
            .header(header::ACCEPT, manifest::OCI_INDEX);
        match self.send(builder, "the referrers list").await {
            Ok(response) => Ok(Some(
                http::read_capped(
                    response,
                    &self.target,
                    "the referrers list",
                    MAX_METADATA_BYTES,
                )
                .await?,
            )),
            Err(DistError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
