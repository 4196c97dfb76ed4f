//! A private Sigstore for tests: a root CA, an intermediate, a Fulcio-style
//! leaf, a transparency log key, and the bundles, Rekor entries, Merkle
//! proofs, checkpoints and trusted_root.json they make. Each knob of
//! [`Options`] breaks one thing, so a test can prove one refusal.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType, date_time_ymd,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::bundle::{IN_TOTO_PAYLOAD_TYPE, pae, statement};
use crate::{Digest, SigningKey};

pub(crate) const SUBJECT: &str =
    "https://github.com/acme/tool/.github/workflows/release.yml@refs/tags/v1.0.0";
pub(crate) const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// 2024-01-01T12:00:00Z: inside the leaf's default validity.
pub(crate) const SIGNED_AT: u64 = 1_704_110_400;
pub(crate) const LOG_INDEX: u64 = 5;

/// What to build, and what to break.
pub(crate) struct Options {
    pub(crate) subject: String,
    pub(crate) issuer: String,
    /// Use the legacy issuer extension (1.3.6.1.4.1.57264.1.1).
    pub(crate) legacy_issuer: bool,
    /// The leaf's validity, as (y, m, d) pairs.
    pub(crate) leaf_valid: ((i32, u8, u8), (i32, u8, u8)),
    pub(crate) integrated_time: u64,
    pub(crate) with_tlog: bool,
    pub(crate) set_by_other_key: bool,
    pub(crate) body_names_other_signature: bool,
    pub(crate) body_names_other_certificate: bool,
    /// The envelope is signed by a key other than the certificate's (and
    /// the log entry records that signature).
    pub(crate) signed_by_other_key: bool,
    pub(crate) leaf_code_signing: bool,
    pub(crate) leaf_is_ca: bool,
    pub(crate) break_inclusion_proof: bool,
    pub(crate) checkpoint_by_other_key: bool,
    /// The trusted root lists a CA other than the one that issued the leaf.
    pub(crate) root_trusts_other_ca: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            subject: SUBJECT.to_owned(),
            issuer: ISSUER.to_owned(),
            legacy_issuer: false,
            leaf_valid: ((2024, 1, 1), (2024, 1, 2)),
            integrated_time: SIGNED_AT,
            with_tlog: true,
            set_by_other_key: false,
            body_names_other_signature: false,
            body_names_other_certificate: false,
            signed_by_other_key: false,
            leaf_code_signing: true,
            leaf_is_ca: false,
            break_inclusion_proof: false,
            checkpoint_by_other_key: false,
            root_trusts_other_ca: false,
        }
    }
}

/// A CA: its certificate and the issuer handle rcgen signs with.
pub(crate) struct Ca {
    pub(crate) root_der: Vec<u8>,
    pub(crate) intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut root_params = ca_params(&format!("{name} root"));
        root_params.not_before = date_time_ymd(2020, 1, 1);
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let inter_params = ca_params(&format!("{name} intermediate"));
        let inter_cert = inter_params.signed_by(&inter_key, &root).unwrap();
        Self {
            root_der: root_cert.der().to_vec(),
            intermediate_der: inter_cert.der().to_vec(),
            intermediate: Issuer::new(inter_params, inter_key),
        }
    }

    /// A Fulcio-style leaf for `key`; returns its DER.
    pub(crate) fn leaf(&self, key: &SigningKey, opts: &Options) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let san = Ia5String::try_from(opts.subject.as_str()).unwrap();
        params.subject_alt_names = vec![
            if opts.subject.contains('@') && !opts.subject.contains('/') {
                SanType::Rfc822Name(san)
            } else {
                SanType::URI(san)
            },
        ];
        params.extended_key_usages = if opts.leaf_code_signing {
            vec![ExtendedKeyUsagePurpose::CodeSigning]
        } else {
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        };
        if opts.leaf_is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        let ((y1, m1, d1), (y2, m2, d2)) = opts.leaf_valid;
        params.not_before = date_time_ymd(y1, m1, d1);
        params.not_after = date_time_ymd(y2, m2, d2);
        let ext = if opts.legacy_issuer {
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                opts.issuer.as_bytes().to_vec(),
            )
        } else {
            let mut utf8 = vec![0x0c, u8::try_from(opts.issuer.len()).unwrap()];
            utf8.extend_from_slice(opts.issuer.as_bytes());
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], utf8)
        };
        params.custom_extensions = vec![ext];
        let leaf_key = KeyPair::from_pem(&key.to_pem()).unwrap();
        params
            .signed_by(&leaf_key, &self.intermediate)
            .unwrap()
            .der()
            .to_vec()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2030, 1, 1);
    params
}

pub(crate) fn cert_pem(der: &[u8]) -> String {
    crate::pem::encode("CERTIFICATE", der)
}

/// RFC 6962 Merkle tree hash of `leaves` (leaf hashes).
pub(crate) fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// RFC 6962 audit path for leaf `m`.
pub(crate) fn audit_path(m: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut path = audit_path(m, &leaves[..k]);
        path.push(tree_hash(&leaves[k..]).to_vec());
        path
    } else {
        let mut path = audit_path(m - k, &leaves[k..]);
        path.push(tree_hash(&leaves[..k]).to_vec());
        path
    }
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn node(l: &[u8], r: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

pub(crate) fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

/// The log: a key, its id, and entry building.
pub(crate) struct Log {
    pub(crate) key: SigningKey,
    pub(crate) id: Vec<u8>,
}

impl Log {
    pub(crate) fn new() -> Self {
        let key = SigningKey::generate().unwrap();
        let id = Sha256::digest(key.public_key().spki_der()).to_vec();
        Self { key, id }
    }

    pub(crate) fn set(&self, signer: &SigningKey, body: &[u8], time: u64) -> Vec<u8> {
        let canonical = format!(
            r#"{{"body":"{}","integratedTime":{time},"logID":"{}","logIndex":{LOG_INDEX}}}"#,
            STANDARD.encode(body),
            hex::encode(&self.id)
        );
        signer.sign(canonical.as_bytes())
    }

    /// A bundle tlog entry for `body` (kind `kind`), placed among others in
    /// a small tree.
    pub(crate) fn entry(&self, kind: &str, body: &[u8], opts: &Options) -> Value {
        let other = SigningKey::generate().unwrap();
        let set_key = if opts.set_by_other_key {
            &other
        } else {
            &self.key
        };
        let mut leaves: Vec<[u8; 32]> = (0u8..7).map(|i| leaf_hash(&[i])).collect();
        let index = 3usize;
        leaves[index] = leaf_hash(body);
        let root = tree_hash(&leaves);
        let mut path = audit_path(index, &leaves);
        if opts.break_inclusion_proof {
            path[0][0] ^= 1;
        }
        let note_text = format!(
            "rekor.test - 42\n{}\n{}\n",
            leaves.len(),
            STANDARD.encode(root)
        );
        let note_key = if opts.checkpoint_by_other_key {
            &other
        } else {
            &self.key
        };
        let mut sig = self.id[..4].to_vec();
        sig.extend(note_key.sign(note_text.as_bytes()));
        let checkpoint = format!(
            "{note_text}\n\u{2014} rekor.test {}\n",
            STANDARD.encode(sig)
        );
        json!({
            "logIndex": LOG_INDEX.to_string(),
            "logId": {"keyId": STANDARD.encode(&self.id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": opts.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": STANDARD.encode(self.set(set_key, body, opts.integrated_time))},
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": STANDARD.encode(root),
                "treeSize": leaves.len().to_string(),
                "hashes": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": STANDARD.encode(body),
        })
    }
}

/// A trusted_root.json listing `ca` and `log`.
pub(crate) fn trusted_root(ca: &Ca, log: &Log) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(log.key.public_key().spki_der()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2021-01-01T00:00:00Z"}
            },
            "logId": {"keyId": STANDARD.encode(&log.id)}
        }],
        "certificateAuthorities": [{
            "subject": {"organization": "test", "commonName": "test"},
            "uri": "https://fulcio.test",
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(&ca.intermediate_der)},
                {"rawBytes": STANDARD.encode(&ca.root_der)}
            ]},
            "validFor": {"start": "2020-01-01T00:00:00.000Z", "end": "2029-12-31T00:00:00Z"}
        }],
        "ctlogs": [],
        "timestampAuthorities": []
    }))
    .unwrap()
}

/// A keyless cosign 3 bundle for `digest` and the trusted root to check it.
pub(crate) struct Keyless {
    pub(crate) bundle: Vec<u8>,
    pub(crate) root: Vec<u8>,
}

pub(crate) fn keyless_bundle(digest: &str, opts: &Options) -> Keyless {
    let ca = Ca::new("fulcio");
    let log = Log::new();
    let key = SigningKey::generate().unwrap();
    let leaf = ca.leaf(&key, opts);
    let digest = Digest::parse(digest).unwrap();
    let payload = statement(&digest);
    let signer = if opts.signed_by_other_key {
        SigningKey::generate().unwrap()
    } else {
        SigningKey::from_pem(&key.to_pem()).unwrap()
    };
    let signature = signer.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
    let verifier = if opts.body_names_other_certificate {
        ca.leaf(&SigningKey::generate().unwrap(), opts)
    } else {
        leaf.clone()
    };
    let body_sig = if opts.body_names_other_signature {
        key.sign(b"something else")
    } else {
        signature.clone()
    };
    let body = serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": "00"},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))},
            "signatures": [{
                "signature": STANDARD.encode(&body_sig),
                "verifier": STANDARD.encode(cert_pem(&verifier))
            }]
        }
    }))
    .unwrap();
    let entries = if opts.with_tlog {
        vec![log.entry("dsse", &body, opts)]
    } else {
        Vec::new()
    };
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": STANDARD.encode(&leaf)},
            "tlogEntries": entries
        },
        "dsseEnvelope": {
            "payload": STANDARD.encode(&payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": STANDARD.encode(&signature)}]
        }
    });
    let root = if opts.root_trusts_other_ca {
        trusted_root(&Ca::new("other"), &log)
    } else {
        trusted_root(&ca, &log)
    };
    Keyless {
        bundle: serde_json::to_vec(&bundle).unwrap(),
        root,
    }
}

/// A legacy (cosign 2) keyless signature: payload, signature, certificate
/// PEM, Rekor bundle annotation and the trusted root.
pub(crate) struct LegacyKeyless {
    pub(crate) payload: Vec<u8>,
    pub(crate) signature_b64: String,
    pub(crate) certificate_pem: String,
    pub(crate) rekor_bundle: String,
    pub(crate) root: Vec<u8>,
}

pub(crate) fn legacy_keyless(digest: &str, opts: &Options) -> LegacyKeyless {
    let ca = Ca::new("fulcio");
    let log = Log::new();
    let key = SigningKey::generate().unwrap();
    let leaf = ca.leaf(&key, opts);
    let payload = crate::simple_signing_payload("registry.test/acme/tool", digest);
    let signature = key.sign(&payload);
    let body = serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))}},
            "signature": {
                "content": STANDARD.encode(&signature),
                "publicKey": {"content": STANDARD.encode(cert_pem(&leaf))}
            }
        }
    }))
    .unwrap();
    let rekor_bundle = json!({
        "SignedEntryTimestamp": STANDARD.encode(log.set(&log.key, &body, opts.integrated_time)),
        "Payload": {
            "body": STANDARD.encode(&body),
            "integratedTime": opts.integrated_time,
            "logIndex": LOG_INDEX,
            "logID": hex::encode(&log.id)
        }
    });
    LegacyKeyless {
        payload,
        signature_b64: STANDARD.encode(&signature),
        certificate_pem: cert_pem(&leaf),
        rekor_bundle: rekor_bundle.to_string(),
        root: trusted_root(&ca, &log),
    }
}
