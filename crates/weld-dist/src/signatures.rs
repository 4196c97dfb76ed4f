//! Finding and attaching signatures, in the two layouts cosign uses. Bytes
//! only: nothing here verifies a signature.
//!
//! - Legacy "simple signing": an image manifest tagged `sha256-<hex>.sig`,
//!   one layer per signature (media type
//!   `application/vnd.dev.cosign.simplesigning.v1+json`, the payload as the
//!   blob, the signature and optional certificate, chain and Rekor bundle as
//!   `dev.cosignproject.cosign/*` / `dev.sigstore.cosign/*` annotations).
//! - Sigstore bundles (cosign 3's default, its `specs/BUNDLE_SPEC.md`): an
//!   OCI 1.1 referrer — an image manifest with
//!   `artifactType: application/vnd.dev.sigstore.bundle.v0.3+json`, the empty
//!   config (`{}`), one layer holding the bundle JSON, and `subject` naming
//!   the signed manifest; listed by `GET /v2/<name>/referrers/<digest>` or,
//!   where the registry lacks that API (404), by the OCI image index tagged
//!   `sha256-<hex>` that the client maintains.
//!
//! Every manifest and blob read here is capped at `MAX_METADATA_BYTES` and
//! checked against its digest; a referrer whose `subject` is another digest
//! is skipped.

use std::collections::BTreeMap;

use oci_client::RegistryOperation;

use crate::manifest::{self, Descriptor, Index, Manifest, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Session, encode, now_rfc3339};
use crate::source::check_digest;
use crate::{
    BUNDLE_MEDIA_TYPE, DistError, FoundSignature, MAX_METADATA_BYTES, OciReference, Registry,
    SIMPLE_SIGNING_MEDIA_TYPE, sha256_digest,
};

const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const CHAIN: &str = "dev.sigstore.cosign/chain";
const REKOR_BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// `sha256:<hex>` → `sha256-<hex>`, the tag both layouts derive.
fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

impl Registry {
    /// Every signature stored for `manifest_digest`, in both layouts. None
    /// is an empty list, not an error.
    pub async fn signatures(
        &self,
        reference: &OciReference,
        manifest_digest: &str,
    ) -> Result<Vec<FoundSignature>, DistError> {
        let pinned = checked(reference, manifest_digest)?;
        let session = self.session(&pinned, RegistryOperation::Pull).await?;
        let mut found = simple_signatures(&session, manifest_digest).await?;
        found.extend(bundles(&session, manifest_digest).await?);
        Ok(found)
    }

    /// Adds a simple-signing signature to the `sha256-<hex>.sig` manifest,
    /// keeping the signatures already there (as cosign does).
    pub async fn push_simple_signature(
        &self,
        reference: &OciReference,
        manifest_digest: &str,
        payload: &[u8],
        signature_b64: &str,
    ) -> Result<(), DistError> {
        let pinned = checked(reference, manifest_digest)?;
        let session = self.session(&pinned, RegistryOperation::Push).await?;
        let tag = format!("{}.sig", digest_tag(manifest_digest));
        let mut layers = match session.manifest_if_any(&tag).await? {
            Some(bytes) => {
                manifest::parse_manifest(&bytes)
                    .map_err(|reason| {
                        DistError::malformed(&session.target, format!("{tag}: {reason}"))
                    })?
                    .layers
            }
            None => Vec::new(),
        };
        let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, payload);
        layer
            .annotations
            .insert(SIGNATURE.to_owned(), signature_b64.to_owned());
        if layers.contains(&layer) {
            return Ok(());
        }
        session.put_blob(&layer, payload).await?;
        layers.push(layer);
        // The config cosign writes: an image config whose rootfs lists the
        // layers. Verifiers ignore it; registries and tools that show
        // images expect it to be there.
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let config = serde_json::json!({
            "architecture": "", "os": "", "created": "0001-01-01T00:00:00Z",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = encode(&session.target, &config)?;
        let config_descriptor = Descriptor::of(manifest::OCI_IMAGE_CONFIG, &config);
        session.put_blob(&config_descriptor, &config).await?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: config_descriptor,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let bytes = encode(&session.target, &manifest)?;
        session.put_manifest(&tag, &bytes, OCI_MANIFEST).await
    }

    /// Attaches a Sigstore bundle as an OCI 1.1 referrer of
    /// `manifest_digest`, in cosign 3's layout, and adds it to the
    /// `sha256-<hex>` referrers index when the registry has no referrers API.
    pub async fn push_bundle(
        &self,
        reference: &OciReference,
        manifest_digest: &str,
        bundle_json: &[u8],
    ) -> Result<(), DistError> {
        let pinned = checked(reference, manifest_digest)?;
        let session = self.session(&pinned, RegistryOperation::Push).await?;
        if bundle_json.len() as u64 > MAX_METADATA_BYTES {
            return Err(DistError::too_large(
                &session.target,
                "the bundle",
                bundle_json.len() as u64,
                MAX_METADATA_BYTES,
            ));
        }
        // The subject descriptor needs the signed manifest's media type and
        // size; fetching it by digest also proves it is there.
        let subject_bytes = session.manifest(manifest_digest).await?;
        let subject_type = serde_json::from_slice::<serde_json::Value>(&subject_bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| OCI_MANIFEST.to_owned());
        let subject = Descriptor::of(&subject_type, &subject_bytes);

        let empty = b"{}";
        let config = Descriptor::of(OCI_EMPTY, empty);
        session.put_blob(&config, empty).await?;
        let layer = Descriptor::of(BUNDLE_MEDIA_TYPE, bundle_json);
        session.put_blob(&layer, bundle_json).await?;
        let annotations = bundle_annotations(bundle_json);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some(BUNDLE_MEDIA_TYPE.into()),
            config,
            layers: vec![layer],
            subject: Some(subject),
            annotations: annotations.clone(),
        };
        let bytes = encode(&session.target, &manifest)?;
        let digest = sha256_digest(&bytes);
        session.put_manifest(&digest, &bytes, OCI_MANIFEST).await?;
        if session.referrers_api(manifest_digest).await?.is_some() {
            return Ok(());
        }
        let tag = digest_tag(manifest_digest);
        let mut index = match session.manifest_if_any(&tag).await? {
            Some(bytes) => manifest::parse_index(&bytes).map_err(|reason| {
                DistError::malformed(&session.target, format!("{tag}: {reason}"))
            })?,
            None => Index::empty(),
        };
        if index.manifests.iter().any(|m| m.digest == digest) {
            return Ok(());
        }
        let mut entry = Descriptor::of(OCI_MANIFEST, &bytes);
        entry.artifact_type = Some(BUNDLE_MEDIA_TYPE.into());
        entry.annotations = annotations;
        index.manifests.push(entry);
        index.media_type = Some(OCI_INDEX.into());
        let bytes = encode(&session.target, &index)?;
        session.put_manifest(&tag, &bytes, OCI_INDEX).await
    }
}

/// `reference` pinned to a checked `manifest_digest`.
fn checked(reference: &OciReference, manifest_digest: &str) -> Result<OciReference, DistError> {
    check_digest(manifest_digest).map_err(|reason| DistError::InvalidSource {
        text: reference.to_string(),
        reason,
    })?;
    Ok(reference.with_digest(manifest_digest))
}

/// The annotations cosign puts on a bundle referrer so that a listing tells
/// bundles apart: what the bundle holds, and when it was attached.
fn bundle_annotations(bundle_json: &[u8]) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    let bundle = serde_json::from_slice::<serde_json::Value>(bundle_json).ok();
    let content = bundle.as_ref().and_then(|b| {
        if b.get("dsseEnvelope").is_some() {
            Some("dsse-envelope")
        } else if b.get("messageSignature").is_some() {
            Some("message-signature")
        } else {
            None
        }
    });
    if let Some(content) = content {
        annotations.insert("dev.sigstore.bundle.content".into(), content.into());
    }
    annotations.insert("org.opencontainers.image.created".into(), now_rfc3339());
    annotations
}

async fn simple_signatures(
    session: &Session<'_>,
    manifest_digest: &str,
) -> Result<Vec<FoundSignature>, DistError> {
    let tag = format!("{}.sig", digest_tag(manifest_digest));
    let Some(bytes) = session.manifest_if_any(&tag).await? else {
        return Ok(Vec::new());
    };
    let manifest = manifest::parse_manifest(&bytes)
        .map_err(|reason| DistError::malformed(&session.target, format!("{tag}: {reason}")))?;
    let mut found = Vec::new();
    for layer in manifest.layers {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature_b64) = layer.annotations.get(SIGNATURE).cloned() else {
            tracing::debug!(layer = %layer.digest, "a .sig layer without a signature annotation");
            continue;
        };
        let payload = session
            .blob(&layer, MAX_METADATA_BYTES, "a signature payload")
            .await?;
        let get = |key: &str| layer.annotations.get(key).cloned();
        found.push(FoundSignature::SimpleSigning {
            payload,
            signature_b64,
            certificate_pem: get(CERTIFICATE),
            chain_pem: get(CHAIN),
            rekor_bundle_json: get(REKOR_BUNDLE),
        });
    }
    Ok(found)
}

async fn bundles(
    session: &Session<'_>,
    manifest_digest: &str,
) -> Result<Vec<FoundSignature>, DistError> {
    let listing = match session.referrers_api(manifest_digest).await? {
        Some(bytes) => Some(bytes),
        None => {
            session
                .manifest_if_any(&digest_tag(manifest_digest))
                .await?
        }
    };
    let Some(listing) = listing else {
        return Ok(Vec::new());
    };
    let index = manifest::parse_index(&listing).map_err(|reason| {
        DistError::malformed(&session.target, format!("the referrers list: {reason}"))
    })?;
    let mut found = Vec::new();
    for entry in index.manifests {
        if entry.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
            continue;
        }
        if entry.size > MAX_METADATA_BYTES {
            return Err(DistError::too_large(
                &session.target,
                "a bundle manifest",
                entry.size,
                MAX_METADATA_BYTES,
            ));
        }
        let bytes = session.manifest(&entry.digest).await?;
        let referrer = manifest::parse_manifest(&bytes).map_err(|reason| {
            DistError::malformed(
                &session.target,
                format!("bundle manifest {}: {reason}", entry.digest),
            )
        })?;
        if referrer.subject.as_ref().map(|s| s.digest.as_str()) != Some(manifest_digest) {
            tracing::debug!(referrer = %entry.digest, "a listed referrer names another subject");
            continue;
        }
        let Some(layer) = referrer
            .layers
            .iter()
            .find(|l| l.media_type == BUNDLE_MEDIA_TYPE)
        else {
            continue;
        };
        let bundle = session
            .blob(layer, MAX_METADATA_BYTES, "a Sigstore bundle")
            .await?;
        found.push(FoundSignature::Bundle(bundle));
    }
    Ok(found)
}
