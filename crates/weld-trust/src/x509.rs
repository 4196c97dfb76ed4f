//! Certificates: what a Fulcio-style signing certificate says (SAN, OIDC
//! issuer, code-signing use, validity, key) and whether it chains to a
//! certificate authority of the trusted root at a given time.
//!
//! Checked: every signature on the path leaf → issuing CA → … → root of one
//! authority in the trusted root, issuer/subject names along it, the
//! validity of every certificate at the given time, the authority's
//! `validFor` at that time, CA certificates marked as CAs, the leaf not a
//! CA, the leaf's codeSigning EKU, and no unknown critical extension in the
//! leaf. Not checked: revocation (Sigstore certificates live ten minutes;
//! the log time is what counts), name or policy constraints, SCTs, and the
//! root's self-signature (the operator's trusted_root.json is the anchor).

use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode as _, Encode as _, Reader as _, SliceReader};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

use crate::TrustError;
use crate::keys::{AnyKey, SigHash};
use crate::root::{TrustedRoot, format_unix};

const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer (v2): a DER UTF8String.
pub(crate) const OID_FULCIO_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OIDC issuer (legacy): the raw bytes of the URL.
pub(crate) const OID_FULCIO_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");

const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A parsed certificate, with the exact bytes its signature covers.
pub(crate) struct Cert {
    pub(crate) der: Vec<u8>,
    tbs: Vec<u8>,
    cert: Certificate,
}

impl Cert {
    pub(crate) fn parse(der: &[u8]) -> Result<Self, TrustError> {
        let cert =
            Certificate::from_der(der).map_err(|source| TrustError::der("certificate", source))?;
        // The signature covers the TBSCertificate as sent; re-encoding the
        // parsed form could differ, so take the original bytes.
        let tbs = raw_tbs(der).map_err(|source| TrustError::der("certificate", source))?;
        Ok(Self {
            der: der.to_vec(),
            tbs,
            cert,
        })
    }

    pub(crate) fn key(&self) -> Result<AnyKey, TrustError> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|source| TrustError::der("certificate key", source))?;
        AnyKey::from_spki_der(&spki, "certificate key")
    }

    /// (not before, not after) in unix seconds.
    pub(crate) fn validity(&self) -> (u64, u64) {
        let v = &self.cert.tbs_certificate.validity;
        (
            v.not_before.to_unix_duration().as_secs(),
            v.not_after.to_unix_duration().as_secs(),
        )
    }

    fn valid_at(&self, t: u64) -> bool {
        let (from, until) = self.validity();
        from <= t && t <= until
    }

    fn extensions(&self) -> &[x509_cert::ext::Extension] {
        self.cert
            .tbs_certificate
            .extensions
            .as_deref()
            .unwrap_or(&[])
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.extensions()
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    fn is_ca(&self) -> Result<bool, TrustError> {
        match self.extension(OID_BASIC_CONSTRAINTS) {
            None => Ok(false),
            Some(bytes) => BasicConstraints::from_der(bytes)
                .map(|bc| bc.ca)
                .map_err(|source| TrustError::der("basicConstraints", source)),
        }
    }

    /// The URI and email SANs.
    pub(crate) fn subjects(&self) -> Result<Vec<String>, TrustError> {
        let Some(bytes) = self.extension(OID_SAN) else {
            return Ok(Vec::new());
        };
        let san = SubjectAltName::from_der(bytes)
            .map_err(|source| TrustError::der("subjectAltName", source))?;
        Ok(san
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::UniformResourceIdentifier(s) | GeneralName::Rfc822Name(s) => {
                    Some(s.to_string())
                }
                _ => None,
            })
            .collect())
    }

    /// The OIDC issuer Fulcio recorded (the v2 extension, else the legacy one).
    pub(crate) fn oidc_issuer(&self) -> Result<Option<String>, TrustError> {
        if let Some(bytes) = self.extension(OID_FULCIO_ISSUER_V2) {
            let s = Utf8StringRef::from_der(bytes)
                .map_err(|source| TrustError::der("Fulcio OIDC issuer extension", source))?;
            return Ok(Some(s.as_str().to_owned()));
        }
        match self.extension(OID_FULCIO_ISSUER_V1) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| {
                TrustError::certificate("the legacy Fulcio OIDC issuer extension is not UTF-8")
            }),
        }
    }

    /// The checks on the leaf itself: a code-signing end-entity certificate
    /// valid at `t`, with no critical extension weld does not understand.
    pub(crate) fn check_leaf(&self, t: u64) -> Result<(), TrustError> {
        let (from, until) = self.validity();
        if !(from <= t && t <= until) {
            return Err(TrustError::certificate(format!(
                "it is valid from {} to {}, but the transparency log recorded the signature \
                 at {} (the certificate had expired or was not yet valid)",
                format_unix(from),
                format_unix(until),
                format_unix(t)
            )));
        }
        if self.is_ca()? {
            return Err(TrustError::certificate(
                "it is a CA certificate, not a signing certificate",
            ));
        }
        let eku = match self.extension(OID_EKU) {
            None => Vec::new(),
            Some(bytes) => {
                ExtendedKeyUsage::from_der(bytes)
                    .map_err(|source| TrustError::der("extendedKeyUsage", source))?
                    .0
            }
        };
        if !eku.contains(&OID_CODE_SIGNING) {
            return Err(TrustError::certificate(
                "it lacks the codeSigning extended key usage",
            ));
        }
        let known = [OID_SAN, OID_EKU, OID_KEY_USAGE, OID_BASIC_CONSTRAINTS];
        if let Some(unknown) = self
            .extensions()
            .iter()
            .find(|e| e.critical && !known.contains(&e.extn_id))
        {
            return Err(TrustError::certificate(format!(
                "it has a critical extension weld does not understand ({})",
                unknown.extn_id
            )));
        }
        Ok(())
    }

    /// Whether `issuer`'s key signed this certificate and names match.
    fn issued_by(&self, issuer: &Self) -> Result<bool, TrustError> {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Ok(false);
        }
        let hash = sig_hash(self.cert.signature_algorithm.oid)?;
        let Some(signature) = self.cert.signature.as_bytes() else {
            return Ok(false);
        };
        Ok(issuer.key()?.verifies(hash, &self.tbs, signature))
    }

    fn issuer_name(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }
}

fn sig_hash(oid: ObjectIdentifier) -> Result<SigHash, TrustError> {
    Ok(match oid {
        o if o == OID_ECDSA_SHA256 || o == OID_RSA_SHA256 => SigHash::Sha256,
        o if o == OID_ECDSA_SHA384 || o == OID_RSA_SHA384 => SigHash::Sha384,
        o if o == OID_RSA_SHA512 => SigHash::Sha512,
        o if o == OID_ED25519 => SigHash::None,
        other => {
            return Err(TrustError::certificate(format!(
                "it is signed with algorithm {other}, which weld cannot check"
            )));
        }
    })
}

fn raw_tbs(der: &[u8]) -> Result<Vec<u8>, x509_cert::der::Error> {
    let mut reader = SliceReader::new(der)?;
    let tbs = reader.sequence(|inner| {
        let tbs: AnyRef<'_> = inner.decode()?;
        let _algorithm: AnyRef<'_> = inner.decode()?;
        let _signature: AnyRef<'_> = inner.decode()?;
        Ok(tbs)
    })?;
    reader.finish(())?;
    tbs.to_der()
}

/// Checks that `leaf` chains, at time `t`, to one certificate authority of
/// `root` that is itself valid at `t`.
pub(crate) fn verify_chain(leaf: &Cert, root: &TrustedRoot, t: u64) -> Result<(), TrustError> {
    let mut reasons = Vec::new();
    for authority in &root.authorities {
        if !authority.valid.contains(t) {
            reasons.push(format!(
                "{} is not valid at {}",
                name_of(&authority.uri),
                format_unix(t)
            ));
            continue;
        }
        match chains_to(leaf, &authority.chain, t) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(format!("{}: {reason}", name_of(&authority.uri))),
        }
    }
    Err(TrustError::certificate(format!(
        "it (issued by {}) does not chain to a certificate authority of the trusted root ({})",
        leaf.issuer_name(),
        reasons.join("; ")
    )))
}

fn name_of(uri: &str) -> &str {
    if uri.is_empty() { "a CA" } else { uri }
}

fn chains_to(leaf: &Cert, chain: &[Vec<u8>], t: u64) -> Result<(), String> {
    let certs = chain
        .iter()
        .map(|der| Cert::parse(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut child = leaf;
    for (depth, ca) in certs.iter().enumerate() {
        if !child.issued_by(ca).map_err(|e| e.to_string())? {
            return Err(if depth == 0 {
                "not issued by its certificate chain".to_owned()
            } else {
                format!("chain certificate {depth} is not signed by the next")
            });
        }
        if !ca.is_ca().map_err(|e| e.to_string())? {
            return Err(format!("chain certificate {depth} is not a CA"));
        }
        if !ca.valid_at(t) {
            return Err(format!(
                "chain certificate {depth} ({}) is not valid at {}",
                ca.cert.tbs_certificate.subject,
                format_unix(t)
            ));
        }
        child = ca;
    }
    Ok(())
}
