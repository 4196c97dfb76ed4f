//! Sigstore bundles (v0.1 to v0.3, `application/vnd.dev.sigstore.bundle…`):
//! reading them into a [`Claim`], and writing the key-signed v0.3 bundle
//! that cosign 3 attaches to an image.
//!
//! What cosign 3 signs for an image (`cosign sign`, new bundle format, the
//! default): a DSSE envelope of payload type `application/vnd.in-toto+json`
//! whose payload is an in-toto Statement v1 with one subject (digest
//! `{"sha256": HEX}`, no name) and predicate type
//! `https://sigstore.dev/cosign/sign/v1` with an empty predicate. With
//! `--key`, the verification material is `publicKey.hint` = base64 of the
//! SHA-256 of the key's SPKI DER.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::claim::Claim;
use crate::keys::SigningKey;
use crate::tlog::{Binding, EntryJson, TlogEntry};
use crate::{Digest, TrustError, decode_b64};

/// The v0.3 bundle media type, the one weld writes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Earlier versions, and v0.3 in the older spelling (sigstore-python and
/// sigstore-go accept it too).
const OTHER_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of cosign's image signature statement.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleJson {
    media_type: String,
    verification_material: MaterialJson,
    #[serde(default)]
    message_signature: Option<MessageSignatureJson>,
    #[serde(default)]
    dsse_envelope: Option<EnvelopeJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialJson {
    #[serde(default)]
    public_key: Option<HintJson>,
    #[serde(default)]
    certificate: Option<RawBytesJson>,
    #[serde(default)]
    x509_certificate_chain: Option<ChainJson>,
    #[serde(default)]
    tlog_entries: Vec<EntryJson>,
}

#[derive(Deserialize, Serialize)]
struct HintJson {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<RawBytesJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignatureJson {
    #[serde(default)]
    message_digest: Option<HashOutputJson>,
    signature: String,
}

#[derive(Deserialize)]
struct HashOutputJson {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload: String,
    payload_type: String,
    signatures: Vec<SignatureJson>,
}

#[derive(Deserialize, Serialize)]
struct SignatureJson {
    sig: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    keyid: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementJson {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<SubjectJson>,
    predicate_type: String,
}

#[derive(Deserialize)]
struct SubjectJson {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// DSSE's pre-authentication encoding: what the signature covers.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Reads a bundle and checks that what it signs is `digest`. `artifact`
/// is the artifact's bytes when the caller has them (a message signature
/// covers the bytes, not only their digest).
pub(crate) fn claim<'a>(
    bytes: &[u8],
    digest: &Digest,
    artifact: Option<&'a [u8]>,
) -> Result<Claim<'a>, TrustError> {
    let bundle: BundleJson = serde_json::from_slice(bytes).map_err(|source| TrustError::Json {
        what: "the Sigstore bundle",
        source,
    })?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE
        && !OTHER_MEDIA_TYPES.contains(&bundle.media_type.as_str())
    {
        return Err(TrustError::bundle(format!(
            "mediaType is {:?}, expected {BUNDLE_MEDIA_TYPE}",
            bundle.media_type
        )));
    }
    let material = &bundle.verification_material;
    let certificate = match (
        &material.public_key,
        &material.certificate,
        &material.x509_certificate_chain,
    ) {
        (Some(_), None, None) => None,
        (None, Some(cert), None) => Some(decode_b64("the bundle's certificate", &cert.raw_bytes)?),
        (None, None, Some(chain)) => {
            // The leaf comes first; intermediates in the bundle are not
            // trusted (the trusted root supplies the chain).
            let leaf = chain
                .certificates
                .first()
                .ok_or_else(|| TrustError::bundle("x509CertificateChain is empty"))?;
            Some(decode_b64("the bundle's certificate", &leaf.raw_bytes)?)
        }
        _ => {
            return Err(TrustError::bundle(
                "verificationMaterial must hold exactly one of publicKey, certificate and \
                 x509CertificateChain",
            ));
        }
    };
    let tlog = material
        .tlog_entries
        .iter()
        .map(TlogEntry::from_bundle)
        .collect::<Result<Vec<_>, _>>()?;
    match (bundle.message_signature, bundle.dsse_envelope) {
        (Some(message), None) => {
            let digest_json = message
                .message_digest
                .ok_or_else(|| TrustError::bundle("messageSignature has no messageDigest"))?;
            if digest_json.algorithm != "SHA2_256" {
                return Err(TrustError::bundle(format!(
                    "messageDigest uses {}, weld checks SHA2_256 only",
                    digest_json.algorithm
                )));
            }
            let signed = decode_b64("the bundle's messageDigest", &digest_json.digest)?;
            if signed != digest.bytes {
                return Err(TrustError::DigestMismatch {
                    signed: format!("sha256:{}", hex::encode(&signed)),
                    expected: digest.text.clone(),
                });
            }
            Ok(Claim {
                kind: "message-signature bundle",
                message: artifact.map(Cow::Borrowed),
                signature: decode_b64("the bundle's signature", &message.signature)?,
                certificate,
                tlog,
                binding: Binding::HashedRekord {
                    digest: digest.bytes,
                },
            })
        }
        (None, Some(envelope)) => dsse_claim(&envelope, digest, certificate, tlog),
        _ => Err(TrustError::bundle(
            "it must hold exactly one of messageSignature and dsseEnvelope",
        )),
    }
}

fn dsse_claim(
    envelope: &EnvelopeJson,
    digest: &Digest,
    certificate: Option<Vec<u8>>,
    tlog: Vec<TlogEntry>,
) -> Result<Claim<'static>, TrustError> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(TrustError::bundle(format!(
            "the DSSE payloadType is {:?}, expected {IN_TOTO_PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    let [signature] = envelope.signatures.as_slice() else {
        return Err(TrustError::bundle(format!(
            "the DSSE envelope has {} signatures, weld accepts exactly one",
            envelope.signatures.len()
        )));
    };
    let payload = decode_b64("the DSSE payload", &envelope.payload)?;
    let statement: StatementJson =
        serde_json::from_slice(&payload).map_err(|source| TrustError::Json {
            what: "the in-toto statement",
            source,
        })?;
    let refuse = |reason: String| TrustError::Payload {
        what: "in-toto statement",
        reason,
    };
    if !STATEMENT_TYPES.contains(&statement.kind.as_str()) {
        return Err(refuse(format!(
            "_type is {:?}, expected {}",
            statement.kind, STATEMENT_TYPES[0]
        )));
    }
    if statement.predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(refuse(format!(
            "predicateType is {:?}: an attestation, not a signature \
             (weld accepts {COSIGN_SIGN_PREDICATE})",
            statement.predicate_type
        )));
    }
    let hex_digest = hex::encode(digest.bytes);
    if !statement
        .subject
        .iter()
        .any(|s| s.digest.get("sha256") == Some(&hex_digest))
    {
        let signed = statement
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256"))
            .map(|h| format!("sha256:{h}"))
            .collect::<Vec<_>>();
        return Err(TrustError::DigestMismatch {
            signed: if signed.is_empty() {
                "no sha256 subject".to_owned()
            } else {
                signed.join(", ")
            },
            expected: digest.text.clone(),
        });
    }
    Ok(Claim {
        kind: "DSSE bundle",
        message: Some(Cow::Owned(pae(&envelope.payload_type, &payload))),
        signature: decode_b64("the DSSE signature", &signature.sig)?,
        certificate,
        tlog,
        binding: Binding::Dsse {
            payload_sha256: Sha256::digest(&payload).into(),
        },
    })
}

/// The in-toto statement cosign 3 signs for an image.
pub(crate) fn statement(digest: &Digest) -> Vec<u8> {
    format!(
        r#"{{"_type":"{}","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"{COSIGN_SIGN_PREDICATE}","predicate":{{}}}}"#,
        STATEMENT_TYPES[0],
        hex::encode(digest.bytes)
    )
    .into_bytes()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyBundleOut {
    media_type: &'static str,
    verification_material: KeyMaterialOut,
    dsse_envelope: EnvelopeJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyMaterialOut {
    public_key: HintJson,
}

/// A key-signed Sigstore bundle v0.3 for `manifest_digest`, in the shape
/// `cosign sign --key` writes with the new bundle format and no
/// transparency-log upload: a DSSE envelope over cosign's image-signature
/// statement, `publicKey.hint` naming the key, no tlog entry.
///
/// # Errors
///
/// A malformed digest, or a failure of the system random generator.
pub fn sign_bundle(key: &SigningKey, manifest_digest: &str) -> Result<Vec<u8>, TrustError> {
    let digest = Digest::parse(manifest_digest)?;
    let payload = statement(&digest);
    let signature = key.try_sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload))?;
    let bundle = KeyBundleOut {
        media_type: BUNDLE_MEDIA_TYPE,
        verification_material: KeyMaterialOut {
            public_key: HintJson {
                hint: key.public_key().hint(),
            },
        },
        dsse_envelope: EnvelopeJson {
            payload: STANDARD.encode(&payload),
            payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
            signatures: vec![SignatureJson {
                sig: STANDARD.encode(&signature),
                keyid: String::new(),
            }],
        },
    };
    serde_json::to_vec(&bundle).map_err(|source| TrustError::Json {
        what: "the bundle weld wrote",
        source,
    })
}
