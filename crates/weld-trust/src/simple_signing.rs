//! cosign's legacy "simple signing" format: a JSON payload naming the
//! manifest digest, signed as-is, stored under the `sha256-<hex>.sig` tag
//! with the signature (and, keyless, the certificate and the Rekor bundle)
//! in layer annotations.

use std::borrow::Cow;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::claim::Claim;
use crate::tlog::{Binding, TlogEntry};
use crate::{Digest, TrustError, decode_b64, pem};

/// The `critical.type` cosign writes and weld requires.
pub(crate) const COSIGN_TYPE: &str = "cosign container image signature";

/// cosign's "simple signing" payload for an image manifest digest, byte for
/// byte what `cosign sign` (legacy format) writes:
/// `{"critical":{"identity":{"docker-reference":REF},"image":{"docker-manifest-digest":DIGEST},"type":"cosign container image signature"},"optional":null}`.
#[must_use]
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":"{COSIGN_TYPE}"}},"optional":null}}"#,
        quote(docker_reference),
        quote(manifest_digest)
    )
    .into_bytes()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    critical: Critical,
    #[serde(default)]
    #[expect(dead_code, reason = "parsed to enforce its shape (null or an object)")]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[expect(
        dead_code,
        reason = "parsed to enforce its shape; not compared (see crate docs)"
    )]
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    #[expect(dead_code, reason = "parsed to enforce its shape")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// Parses a legacy signature and checks that its payload names `digest`.
pub(crate) fn claim<'a>(
    payload: &'a [u8],
    signature_b64: &str,
    certificate_pem: Option<&str>,
    rekor_bundle_json: Option<&str>,
    digest: &Digest,
) -> Result<Claim<'a>, TrustError> {
    let parsed: Payload = serde_json::from_slice(payload).map_err(|source| TrustError::Json {
        what: "the simple signing payload",
        source,
    })?;
    if parsed.critical.kind != COSIGN_TYPE {
        return Err(TrustError::Payload {
            what: "simple signing payload",
            reason: format!(
                "critical.type is {:?}, expected {COSIGN_TYPE:?}",
                parsed.critical.kind
            ),
        });
    }
    if parsed.critical.image.digest != digest.text {
        return Err(TrustError::DigestMismatch {
            signed: parsed.critical.image.digest,
            expected: digest.text.clone(),
        });
    }
    let certificate = certificate_pem
        .map(|text| pem::single(text, "certificate", &["CERTIFICATE"]).map(|block| block.1))
        .transpose()?;
    let tlog = rekor_bundle_json
        .map(TlogEntry::from_legacy_json)
        .transpose()?
        .into_iter()
        .collect();
    Ok(Claim {
        kind: "simple signing signature",
        message: Some(Cow::Borrowed(payload)),
        signature: decode_b64(
            "the dev.cosignproject.cosign/signature annotation",
            signature_b64,
        )?,
        certificate,
        tlog,
        binding: Binding::HashedRekord {
            digest: Sha256::digest(payload).into(),
        },
    })
}
