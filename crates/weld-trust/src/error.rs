//! The one error type of weld-trust. Each variant says what failed and,
//! where the caller can act, what to do about it; lower-level causes
//! (base64, JSON, DER, ring) stay reachable through `source()`.

use thiserror::Error;

/// Why a key, a signature or a trust root was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A PEM text was not what it should be (missing block, wrong label,
    /// bad base64).
    #[error("cannot read the {what} PEM: {reason}")]
    Pem {
        /// What the text was meant to hold ("public key", "certificate").
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A key of an algorithm weld does not accept.
    #[error(
        "unsupported {what}: {algorithm}; weld accepts ECDSA P-256 and Ed25519 keys \
         (generate one with `weld keygen` or `cosign generate-key-pair`)"
    )]
    UnsupportedKey {
        /// "public key" or "private key".
        what: &'static str,
        /// The algorithm found, as far as it could be named.
        algorithm: String,
    },
    /// ring refused a key's bytes.
    #[error("the {what} is malformed or not of the algorithm it claims")]
    KeyRejected {
        /// Which key.
        what: &'static str,
        /// ring's reason.
        #[source]
        source: ring::error::KeyRejected,
    },
    /// The system random generator failed while generating a key or signing.
    #[error("the system random number generator failed while {doing}")]
    Random {
        /// What was being done.
        doing: &'static str,
    },
    /// A base64 field did not decode.
    #[error("{what} is not valid base64")]
    Base64 {
        /// Which field.
        what: String,
        /// The decoder's reason.
        #[source]
        source: base64::DecodeError,
    },
    /// A JSON document did not parse into the shape it must have.
    #[error("{what} is not valid: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// The parser's reason (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A DER structure (certificate, key) did not decode.
    #[error("{what} is not valid DER: {source}")]
    Der {
        /// Which structure.
        what: String,
        /// The decoder's reason.
        #[source]
        source: x509_cert::der::Error,
    },
    /// A digest string was not `sha256:` followed by 64 lowercase hex digits.
    #[error("{digest:?} is not a sha256 digest (expected sha256:<64 lowercase hex digits>)")]
    InvalidDigest {
        /// The string given.
        digest: String,
    },
    /// The signed content is well formed but is not the kind of statement
    /// weld accepts (wrong type, wrong predicate, missing field).
    #[error("the signed {what} is not accepted: {reason}")]
    Payload {
        /// Which payload ("simple signing payload", "in-toto statement").
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The Sigstore bundle is malformed or of a kind weld does not handle.
    #[error("the Sigstore bundle is not accepted: {reason}")]
    Bundle {
        /// Why.
        reason: String,
    },
    /// A valid signature for another artifact: the signed content names a
    /// different digest than the one being verified.
    #[error(
        "the signature is for {signed}, not for {expected}: a signature copied from \
         another artifact proves nothing about this one; sign {expected} itself"
    )]
    DigestMismatch {
        /// The digest the signed content names.
        signed: String,
        /// The digest being verified.
        expected: String,
    },
    /// The blob's bytes do not hash to the digest the caller gave.
    #[error("the blob's sha256 is {actual}, not the expected {expected}")]
    BlobDigest {
        /// The digest the caller expected.
        expected: String,
        /// The digest of the bytes given.
        actual: String,
    },
    /// The signature covers bytes the caller did not pass.
    #[error(
        "this {kind} signs the artifact's bytes, not only their digest: pass the \
         artifact's bytes to verify it"
    )]
    NeedsArtifact {
        /// The kind of signature.
        kind: &'static str,
    },
    /// The signature does not verify with the signer's key.
    #[error(
        "the signature does not verify with {signer}: it was made by another key, or what \
         it signs was changed after signing"
    )]
    BadSignature {
        /// The key or certificate tried.
        signer: String,
    },
    /// The certificate names another identity or issuer than the trusted one.
    #[error(
        "the certificate's {field} is {found}, but the trust policy requires {expected}: \
         signed by someone else, or the policy names the wrong identity"
    )]
    Identity {
        /// "subject" or "OIDC issuer".
        field: &'static str,
        /// What the certificate says.
        found: String,
        /// What the trust policy requires.
        expected: String,
    },
    /// The certificate itself, or its chain to the trusted root, is refused.
    #[error("the signing certificate is not trusted: {reason}")]
    Certificate {
        /// Why.
        reason: String,
    },
    /// The transparency-log evidence is missing or does not verify.
    #[error("the transparency-log entry is not accepted: {reason}")]
    Tlog {
        /// Why.
        reason: String,
    },
    /// The signature kind cannot be verified against this kind of signer.
    #[error("{reason}")]
    SignerMismatch {
        /// Why the two do not fit.
        reason: String,
    },
    /// The trusted_root.json is malformed.
    #[error("the trusted root is not valid: {reason}")]
    TrustedRoot {
        /// Why.
        reason: String,
    },
    /// No signer was given; nothing can be trusted.
    #[error("no trusted signer is configured: add a key or an identity to the trust policy")]
    NoSigners,
    /// Several signers were tried and none verified.
    #[error("no trusted signer verified the signature: {}", list(.failures))]
    NoneVerified {
        /// Each signer tried and why it failed, in the order tried.
        failures: Vec<(String, TrustError)>,
    },
}

fn list(failures: &[(String, TrustError)]) -> String {
    failures
        .iter()
        .map(|(signer, error)| format!("{signer}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl TrustError {
    pub(crate) fn base64(what: impl Into<String>, source: base64::DecodeError) -> Self {
        Self::Base64 {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn der(what: impl Into<String>, source: x509_cert::der::Error) -> Self {
        Self::Der {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn bundle(reason: impl Into<String>) -> Self {
        Self::Bundle {
            reason: reason.into(),
        }
    }

    pub(crate) fn tlog(reason: impl Into<String>) -> Self {
        Self::Tlog {
            reason: reason.into(),
        }
    }

    pub(crate) fn certificate(reason: impl Into<String>) -> Self {
        Self::Certificate {
            reason: reason.into(),
        }
    }
}
