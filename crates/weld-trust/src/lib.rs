//! # weld-trust
//!
//! Whether a signature proves that a trusted publisher signed exactly the
//! artifact being installed, and the signing side of the same formats.
//! Pure and offline: callers pass bytes; this crate does no network, no
//! file system, no async. Verification happens at install time, never on
//! a tool call.
//!
//! ```
//! use weld_trust::{
//!     ManifestSignature, SigningKey, TrustedSigner, sign_bundle, verify_manifest,
//! };
//!
//! let key = SigningKey::generate()?;
//! let digest = format!("sha256:{}", "ab".repeat(32));
//! let bundle = sign_bundle(&key, &digest)?;
//! let signers = [TrustedSigner::Key(key.public_key())];
//! let verified = verify_manifest(&ManifestSignature::Bundle(&bundle), &digest, &signers)?;
//! assert_eq!(verified.signer.to_string(), format!("key {}", key.public_key().key_id()));
//!
//! // The same signature does not vouch for another digest.
//! let other = format!("sha256:{}", "cd".repeat(32));
//! assert!(verify_manifest(&ManifestSignature::Bundle(&bundle), &other, &signers).is_err());
//! # Ok::<(), weld_trust::TrustError>(())
//! ```
//!
//! ## Formats
//!
//! - **Legacy simple signing** (cosign ≤ 2, `sha256-<hex>.sig` tag): the
//!   payload blob is signed as is; the payload must parse strictly (unknown
//!   fields refused), `critical.type` must be `cosign container image
//!   signature`, and `critical.image.docker-manifest-digest` must equal the
//!   digest being verified, exactly. `critical.identity.docker-reference`
//!   is not compared (a repository may be mirrored or renamed; the digest
//!   is what binds), and `optional` is ignored.
//! - **Sigstore bundle** v0.3 (also v0.1/v0.2), as cosign 3 attaches it
//!   through referrers. Verification material: `publicKey` (its hint is not
//!   trusted: only the trusted key's verdict counts), `certificate`, or
//!   `x509CertificateChain` (only its leaf is used; the chain comes from
//!   the trusted root). Content: a `dsseEnvelope` (payload type
//!   `application/vnd.in-toto+json`, exactly one signature, over the DSSE
//!   PAE; an in-toto Statement whose predicate type is
//!   `https://sigstore.dev/cosign/sign/v1` — an SBOM or provenance
//!   attestation is not a signature — with a subject whose `sha256` is the
//!   digest), or a `messageSignature` (its `messageDigest` must be the
//!   SHA2_256 digest, and the signature is checked over the artifact's
//!   bytes, which the caller must then pass). This is what cosign 3's
//!   `sign` writes; [`sign_bundle`] writes the same.
//! - **`sign-blob` detached signatures**: base64 of a DER signature over
//!   the blob's bytes.
//!
//! ## Keys
//!
//! Trusted keys are ECDSA P-256 (SHA-256) or Ed25519, read from SPKI
//! `PUBLIC KEY` PEM; anything else is refused with the algorithm named.
//! Signing keys are ECDSA P-256 (PKCS#8, or SEC1 on input). A key signer
//! needs no transparency log and none is checked: [`Verified::signed_at`]
//! is then `None`.
//!
//! ## Identities ("keyless")
//!
//! An identity signer is a subject (exact SAN, URI or email), an OIDC
//! issuer (exact) and a [`TrustedRoot`]. Accepted only if all hold:
//! the certificate's SAN and Fulcio issuer extension (OID
//! 1.3.6.1.4.1.57264.1.8, else the legacy 1.3.6.1.4.1.57264.1.1) match;
//! the signature verifies with the certificate's key; at least one
//! transparency-log entry is present and every entry verifies (see the
//! `tlog` module: SET by a log of the root valid at the entry's time, body
//! naming this signature, certificate and digest, inclusion proof and
//! checkpoint when present); at each entry's integrated time the
//! certificate is valid, has the codeSigning EKU, is no CA, has no unknown
//! critical extension, and chains (every signature checked) to a
//! certificate authority of the root valid at that time. The certificate
//! key's signature may use SHA-256 or SHA-384 (EC keys), as Sigstore
//! clients differ. The log's integrated time is the only time source, so
//! entries without a signed entry timestamp (Rekor v2, which relies on RFC
//! 3161 timestamps) are refused. Not checked: SCTs (`ctlogs` and
//! `timestampAuthorities` are ignored), RFC 3161 timestamps, revocation,
//! name constraints, any other Fulcio extension (workflow, repository,
//! ref: encode them in the subject, which for GitHub Actions names the
//! workflow file and ref).
//!
//! ## Blobs
//!
//! [`verify_blob`] checks that the caller's bytes hash to the expected
//! digest, then the signature. Signatures over the bytes themselves
//! (detached, message-signature bundles) need the bytes: ring verifies
//! messages, not prehashed digests, and Ed25519 cannot be prehashed. DSSE
//! bundles name the digest and do not.
//!
//! ## Several signers
//!
//! The first signer that verifies wins. With one signer its error is
//! returned; with several, [`TrustError::NoneVerified`] lists each.

#![forbid(unsafe_code)]

mod bundle;
mod claim;
mod error;
mod keys;
mod pem;
mod root;
mod simple_signing;
mod tlog;
mod x509;

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

pub use bundle::{BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, sign_bundle};
pub use error::TrustError;
pub use keys::{KeyBytes, PublicKey, SigningKey};
pub use root::{TrustedRoot, format_unix};
pub use simple_signing::simple_signing_payload;

/// Someone whose signature weld accepts.
#[derive(Clone, Debug)]
pub enum TrustedSigner {
    /// Whoever holds the private half of this key.
    Key(PublicKey),
    /// Whoever a CA of `root` certified as `subject` (exact SAN, URI or
    /// email) authenticated by `issuer` (exact OIDC issuer URL).
    Identity {
        /// The CAs and logs this identity is vouched for by.
        root: Arc<TrustedRoot>,
        /// The exact SAN, e.g.
        /// `https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/v1.0.0`.
        subject: String,
        /// The exact OIDC issuer, e.g. `https://token.actions.githubusercontent.com`.
        issuer: String,
    },
}

/// Who signed, as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A trusted key, by its id (`sha256:<hex of the SPKI DER>`).
    Key {
        /// The key's id.
        key_id: String,
    },
    /// A trusted identity.
    Identity {
        /// The SAN matched.
        subject: String,
        /// The OIDC issuer matched.
        issuer: String,
    },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { key_id } => write!(f, "key {key_id}"),
            Self::Identity { subject, issuer } => write!(f, "{subject} (issuer {issuer})"),
        }
    }
}

/// A verified signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Who signed.
    pub signer: Signer,
    /// When the transparency log recorded the signature (unix seconds);
    /// `None` for key signatures, whose log entries weld does not check.
    pub signed_at: Option<u64>,
}

/// A signature found for a manifest, as the registry holds it.
#[derive(Clone, Copy, Debug)]
pub enum ManifestSignature<'a> {
    /// The legacy `sha256-<hex>.sig` tag's layer: the payload blob, the
    /// `dev.cosignproject.cosign/signature` annotation and the optional
    /// `dev.sigstore.cosign/certificate`, `dev.sigstore.cosign/chain` and
    /// `dev.sigstore.cosign/bundle` annotations (keyless, legacy).
    SimpleSigning {
        /// The payload blob.
        payload: &'a [u8],
        /// The base64 signature annotation.
        signature_b64: &'a str,
        /// The signing certificate (PEM), keyless only.
        certificate_pem: Option<&'a str>,
        /// The certificate's chain (PEM); not used (the trusted root
        /// supplies the chain).
        chain_pem: Option<&'a str>,
        /// The Rekor bundle annotation (JSON), keyless only.
        rekor_bundle_json: Option<&'a str>,
    },
    /// A Sigstore bundle (found via referrers).
    Bundle(&'a [u8]),
}

/// A signature for a blob fetched over HTTPS.
#[derive(Clone, Copy, Debug)]
pub enum BlobSignature<'a> {
    /// `cosign sign-blob` output: base64 of the DER signature over the bytes.
    Detached {
        /// The base64 text (surrounding whitespace ignored).
        signature_b64: &'a str,
    },
    /// A Sigstore bundle (`cosign sign-blob --bundle`).
    Bundle(&'a [u8]),
}

/// A validated `sha256:<hex>` digest.
pub(crate) struct Digest {
    pub(crate) text: String,
    pub(crate) bytes: [u8; 32],
}

impl Digest {
    pub(crate) fn parse(text: &str) -> Result<Self, TrustError> {
        let invalid = || TrustError::InvalidDigest {
            digest: text.to_owned(),
        };
        let hex_part = text.strip_prefix("sha256:").ok_or_else(invalid)?;
        Self::from_hex(hex_part).ok_or_else(invalid)
    }

    fn from_hex(hex_part: &str) -> Option<Self> {
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).ok()?;
        Some(Self {
            text: format!("sha256:{hex_part}"),
            bytes,
        })
    }
}

pub(crate) fn decode_b64(what: &str, text: &str) -> Result<Vec<u8>, TrustError> {
    STANDARD
        .decode(text.trim())
        .map_err(|source| TrustError::base64(what, source))
}

/// Verifies that `signature` was made by one of `signers` over exactly
/// `manifest_digest` (`sha256:<hex>`).
///
/// # Errors
///
/// A malformed signature, a signature for another digest
/// ([`TrustError::DigestMismatch`]), or no signer that verifies it.
pub fn verify_manifest(
    signature: &ManifestSignature<'_>,
    manifest_digest: &str,
    signers: &[TrustedSigner],
) -> Result<Verified, TrustError> {
    let digest = Digest::parse(manifest_digest)?;
    let claim = match *signature {
        ManifestSignature::SimpleSigning {
            payload,
            signature_b64,
            certificate_pem,
            chain_pem: _,
            rekor_bundle_json,
        } => simple_signing::claim(
            payload,
            signature_b64,
            certificate_pem,
            rekor_bundle_json,
            &digest,
        )?,
        ManifestSignature::Bundle(bytes) => bundle::claim(bytes, &digest, None)?,
    };
    claim.verify(signers)
}

/// Like [`verify_manifest`], for callers that have the manifest's bytes:
/// also accepts message-signature bundles over the manifest (the digest
/// is computed from `manifest`).
///
/// # Errors
///
/// As [`verify_manifest`].
pub fn verify_manifest_bytes(
    signature: &ManifestSignature<'_>,
    manifest: &[u8],
    signers: &[TrustedSigner],
) -> Result<Verified, TrustError> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(manifest)));
    match *signature {
        ManifestSignature::Bundle(bytes) => {
            bundle::claim(bytes, &Digest::parse(&digest)?, Some(manifest))?.verify(signers)
        }
        ManifestSignature::SimpleSigning { .. } => verify_manifest(signature, &digest, signers),
    }
}

/// Verifies a blob's signature (cosign `sign-blob` semantics: the bytes are
/// signed). `blob_sha256_hex` is the expected digest (64 lowercase hex
/// digits); `blob`, when given, must hash to it, and is required by
/// signatures over the bytes (detached signatures, message-signature
/// bundles).
///
/// # Errors
///
/// A malformed digest or signature, bytes that do not hash to the digest,
/// missing bytes a signature needs ([`TrustError::NeedsArtifact`]), or no
/// signer that verifies it.
pub fn verify_blob(
    blob_sha256_hex: &str,
    blob: Option<&[u8]>,
    signature: &BlobSignature<'_>,
    signers: &[TrustedSigner],
) -> Result<Verified, TrustError> {
    let digest = Digest::from_hex(blob_sha256_hex).ok_or_else(|| TrustError::InvalidDigest {
        digest: blob_sha256_hex.to_owned(),
    })?;
    if let Some(bytes) = blob {
        let actual = hex::encode(Sha256::digest(bytes));
        if actual != blob_sha256_hex {
            return Err(TrustError::BlobDigest {
                expected: blob_sha256_hex.to_owned(),
                actual,
            });
        }
    }
    let claim = match *signature {
        BlobSignature::Detached { signature_b64 } => claim::Claim {
            kind: "detached signature",
            message: blob.map(std::borrow::Cow::Borrowed),
            signature: decode_b64("the detached signature", signature_b64)?,
            certificate: None,
            tlog: Vec::new(),
            binding: tlog::Binding::HashedRekord {
                digest: digest.bytes,
            },
        },
        BlobSignature::Bundle(bytes) => bundle::claim(bytes, &digest, blob)?,
    };
    claim.verify(signers)
}

/// `cosign sign-blob` output: base64 of the DER signature over `bytes`.
#[must_use]
pub fn sign_blob(key: &SigningKey, bytes: &[u8]) -> String {
    STANDARD.encode(key.sign(bytes))
}

#[cfg(test)]
mod tests;
