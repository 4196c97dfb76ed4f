//! Transparency-log (Rekor) evidence: the entry a bundle or a legacy
//! `dev.sigstore.cosign/bundle` annotation carries, and its verification
//! against a log of the trusted root.
//!
//! Checked: the signed entry timestamp (SET: the log's key over the
//! canonical JSON of body, integratedTime, logID and logIndex), that the
//! log key was valid at the integrated time, that the canonicalized body
//! (`hashedrekord` or `dsse`) names this signature, this certificate and
//! this digest, and, when present, the RFC 6962 inclusion proof to its root
//! hash and the checkpoint's signature by the same log key. Not checked:
//! that the log is consistent with other views of it (no gossip or
//! witness), and entries without a SET (their time is not authenticated,
//! so they are refused).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::TrustError;
use crate::pem;
use crate::root::{TrustedRoot, format_unix};

/// What a log entry's body must name besides the signature and certificate.
pub(crate) enum Binding {
    /// `hashedrekord`: the SHA-256 of the signed artifact.
    HashedRekord { digest: [u8; 32] },
    /// `dsse`: the SHA-256 of the envelope's payload.
    Dsse { payload_sha256: [u8; 32] },
}

/// One log entry, decoded.
pub(crate) struct TlogEntry {
    log_index: u64,
    log_id: Vec<u8>,
    kind: Option<String>,
    integrated_time: u64,
    body: Vec<u8>,
    set: Option<Vec<u8>>,
    proof: Option<InclusionProof>,
}

struct InclusionProof {
    log_index: u64,
    tree_size: u64,
    root_hash: Vec<u8>,
    hashes: Vec<Vec<u8>>,
    checkpoint: Option<String>,
}

/// protojson writes int64 as strings; accept numbers too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    Text(String),
    Number(u64),
}

impl Int {
    fn get(&self, what: &str) -> Result<u64, TrustError> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(s) => s
                .parse()
                .map_err(|_| TrustError::tlog(format!("{what} {s:?} is not a number"))),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryJson {
    log_index: Int,
    log_id: LogIdJson,
    #[serde(default)]
    kind_version: Option<KindVersionJson>,
    integrated_time: Int,
    #[serde(default)]
    inclusion_promise: Option<PromiseJson>,
    #[serde(default)]
    inclusion_proof: Option<ProofJson>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdJson {
    key_id: String,
}

#[derive(Deserialize)]
struct KindVersionJson {
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromiseJson {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofJson {
    log_index: Int,
    root_hash: String,
    tree_size: Int,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<CheckpointJson>,
}

#[derive(Deserialize)]
struct CheckpointJson {
    envelope: String,
}

/// cosign's legacy `dev.sigstore.cosign/bundle` annotation.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyJson {
    signed_entry_timestamp: String,
    payload: LegacyPayloadJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyPayloadJson {
    body: String,
    integrated_time: u64,
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

fn b64(what: &str, text: &str) -> Result<Vec<u8>, TrustError> {
    STANDARD
        .decode(text.trim())
        .map_err(|source| TrustError::base64(format!("the log entry's {what}"), source))
}

impl TlogEntry {
    pub(crate) fn from_bundle(json: &EntryJson) -> Result<Self, TrustError> {
        let proof = json
            .inclusion_proof
            .as_ref()
            .map(|p| {
                Ok::<_, TrustError>(InclusionProof {
                    log_index: p.log_index.get("inclusionProof.logIndex")?,
                    tree_size: p.tree_size.get("inclusionProof.treeSize")?,
                    root_hash: b64("inclusionProof.rootHash", &p.root_hash)?,
                    hashes: p
                        .hashes
                        .iter()
                        .map(|h| b64("inclusionProof.hashes", h))
                        .collect::<Result<_, _>>()?,
                    checkpoint: p.checkpoint.as_ref().map(|c| c.envelope.clone()),
                })
            })
            .transpose()?;
        Ok(Self {
            log_index: json.log_index.get("logIndex")?,
            log_id: b64("logId.keyId", &json.log_id.key_id)?,
            kind: json.kind_version.as_ref().map(|k| k.kind.clone()),
            integrated_time: json.integrated_time.get("integratedTime")?,
            body: b64("canonicalizedBody", &json.canonicalized_body)?,
            set: json
                .inclusion_promise
                .as_ref()
                .map(|p| b64("signedEntryTimestamp", &p.signed_entry_timestamp))
                .transpose()?,
            proof,
        })
    }

    /// Reads cosign's legacy `dev.sigstore.cosign/bundle` annotation.
    pub(crate) fn from_legacy_json(text: &str) -> Result<Self, TrustError> {
        let json: LegacyJson = serde_json::from_str(text).map_err(|source| TrustError::Json {
            what: "the dev.sigstore.cosign/bundle annotation",
            source,
        })?;
        Ok(Self {
            log_index: json.payload.log_index,
            log_id: hex::decode(&json.payload.log_id)
                .map_err(|_| TrustError::tlog("the legacy bundle's logID is not hex"))?,
            kind: None,
            integrated_time: json.payload.integrated_time,
            body: b64("body", &json.payload.body)?,
            set: Some(b64("SignedEntryTimestamp", &json.signed_entry_timestamp)?),
            proof: None,
        })
    }

    /// Verifies the entry against `root` and returns its authenticated
    /// integrated time.
    pub(crate) fn verify(
        &self,
        root: &TrustedRoot,
        binding: &Binding,
        signature: &[u8],
        certificate: &[u8],
    ) -> Result<u64, TrustError> {
        let log = root.log(&self.log_id).ok_or_else(|| {
            TrustError::tlog(format!(
                "it is from log {}, which the trusted root does not list",
                hex::encode(&self.log_id)
            ))
        })?;
        if !log.valid.contains(self.integrated_time) {
            return Err(TrustError::tlog(format!(
                "the log's key was not valid at the entry's time {}",
                format_unix(self.integrated_time)
            )));
        }
        let set = self.set.as_deref().ok_or_else(|| {
            TrustError::tlog(
                "it has no signed entry timestamp (inclusionPromise), so its time is not \
                 authenticated",
            )
        })?;
        let canonical = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            STANDARD.encode(&self.body),
            self.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        );
        if !log.key.verifies(log.hash, canonical.as_bytes(), set) {
            return Err(TrustError::tlog(
                "its signed entry timestamp does not verify with the log's key",
            ));
        }
        check_body(
            &self.body,
            self.kind.as_deref(),
            binding,
            signature,
            certificate,
        )?;
        if let Some(proof) = &self.proof {
            let leaf = leaf_hash(&self.body);
            if !verify_inclusion(
                proof.log_index,
                proof.tree_size,
                leaf,
                &proof.hashes,
                &proof.root_hash,
            ) {
                return Err(TrustError::tlog(
                    "its inclusion proof does not lead to the proof's root hash",
                ));
            }
            if let Some(note) = &proof.checkpoint {
                check_checkpoint(note, log, proof)?;
            }
        }
        Ok(self.integrated_time)
    }
}

fn check_body(
    body: &[u8],
    kind: Option<&str>,
    binding: &Binding,
    signature: &[u8],
    certificate: &[u8],
) -> Result<(), TrustError> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|source| TrustError::Json {
            what: "the log entry's body",
            source,
        })?;
    let body_kind = json["kind"].as_str().unwrap_or_default();
    if let Some(kind) = kind
        && kind != body_kind
    {
        return Err(TrustError::tlog(format!(
            "kindVersion says {kind}, the body says {body_kind}"
        )));
    }
    let spec = &json["spec"];
    let (hash, signatures) = match (binding, body_kind) {
        (Binding::HashedRekord { digest }, "hashedrekord") => {
            let sig = &spec["signature"];
            (
                (&spec["data"]["hash"], *digest),
                vec![(&sig["content"], &sig["publicKey"]["content"])],
            )
        }
        (Binding::Dsse { payload_sha256 }, "dsse") => (
            (&spec["payloadHash"], *payload_sha256),
            spec["signatures"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|s| (&s["signature"], &s["verifier"]))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        (Binding::HashedRekord { .. }, other) => {
            return Err(TrustError::tlog(format!(
                "its body is of kind {other:?}, expected hashedrekord for this signature"
            )));
        }
        (Binding::Dsse { .. }, other) => {
            return Err(TrustError::tlog(format!(
                "its body is of kind {other:?}, expected dsse for this DSSE envelope"
            )));
        }
    };
    let (hash, expected) = hash;
    if hash["algorithm"].as_str() != Some("sha256")
        || hash["value"].as_str() != Some(hex::encode(expected).as_str())
    {
        return Err(TrustError::tlog(format!(
            "its body names digest {}, not this signature's sha256:{}",
            hash["value"].as_str().unwrap_or("(none)"),
            hex::encode(expected)
        )));
    }
    let named = signatures.iter().any(|(sig, verifier)| {
        let sig_ok = sig
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .is_some_and(|s| s == signature);
        sig_ok && names_certificate(verifier, certificate)
    });
    if !named {
        return Err(TrustError::tlog(
            "its body records another signature or another certificate than this one",
        ));
    }
    Ok(())
}

/// Whether `value` (base64 of a PEM certificate) is `certificate`.
fn names_certificate(value: &serde_json::Value, certificate: &[u8]) -> bool {
    let Some(pem_text) = value
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return false;
    };
    pem::blocks(&pem_text, "log entry certificate")
        .ok()
        .and_then(|blocks| blocks.into_iter().next())
        .is_some_and(|(label, der)| label == "CERTIFICATE" && der == certificate)
}

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 section 2.1.3.2: the audit path from leaf `index` in a tree
/// of `size` leaves leads to `root`.
pub(crate) fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    path: &[Vec<u8>],
    root: &[u8],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if p.len() != 32 || sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r.as_slice() == root
}

/// A signed note (`origin\nsize\nroot\n[extensions]\n\n— name sig\n`): one
/// signature line must verify with the log's key over the text above the
/// blank line, and the size and root hash must be the proof's.
fn check_checkpoint(
    note: &str,
    log: &crate::root::Log,
    proof: &InclusionProof,
) -> Result<(), TrustError> {
    let Some((text, signatures)) = note.split_once("\n\n") else {
        return Err(TrustError::tlog("its checkpoint is not a signed note"));
    };
    let signed = format!("{text}\n");
    let verified = signatures
        .lines()
        .filter_map(|line| line.strip_prefix("\u{2014} "))
        .filter_map(|rest| rest.rsplit_once(' '))
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        .any(|bytes| bytes.len() > 4 && log.key.verifies(log.hash, signed.as_bytes(), &bytes[4..]));
    if !verified {
        return Err(TrustError::tlog(
            "its checkpoint is not signed by the log's key",
        ));
    }
    let mut lines = text.lines();
    let _origin = lines.next();
    let size = lines.next().and_then(|s| s.parse::<u64>().ok());
    let root = lines.next().and_then(|s| STANDARD.decode(s).ok());
    if size != Some(proof.tree_size) || root.as_deref() != Some(proof.root_hash.as_slice()) {
        return Err(TrustError::tlog(
            "its checkpoint names another tree size or root hash than its inclusion proof",
        ));
    }
    Ok(())
}
