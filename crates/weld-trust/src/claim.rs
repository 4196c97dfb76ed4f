//! A signature, whatever format it came in, reduced to what verification
//! needs: the signed bytes, the signature, the certificate if any, the
//! log entries, and what those entries must name. Checking it against the
//! trusted signers is the same for every format.

use std::borrow::Cow;

use crate::tlog::{Binding, TlogEntry};
use crate::x509::{Cert, verify_chain};
use crate::{Signer, TrustError, TrustedSigner, Verified};

pub(crate) struct Claim<'a> {
    /// What kind of signature this is, for messages.
    pub(crate) kind: &'static str,
    /// The bytes the signature covers; `None` when the caller did not pass
    /// the artifact a message signature covers.
    pub(crate) message: Option<Cow<'a, [u8]>>,
    pub(crate) signature: Vec<u8>,
    /// The signing certificate (DER), for identity signatures.
    pub(crate) certificate: Option<Vec<u8>>,
    pub(crate) tlog: Vec<TlogEntry>,
    pub(crate) binding: Binding,
}

impl Claim<'_> {
    /// The first signer that verifies wins; with one signer its error is
    /// returned as is, with several the list of why each failed.
    pub(crate) fn verify(&self, signers: &[TrustedSigner]) -> Result<Verified, TrustError> {
        match signers {
            [] => Err(TrustError::NoSigners),
            [only] => self.verify_one(only),
            many => {
                let mut failures = Vec::new();
                for signer in many {
                    match self.verify_one(signer) {
                        Ok(verified) => return Ok(verified),
                        Err(error) => failures.push((describe(signer), error)),
                    }
                }
                Err(TrustError::NoneVerified { failures })
            }
        }
    }

    fn message(&self) -> Result<&[u8], TrustError> {
        self.message
            .as_deref()
            .ok_or(TrustError::NeedsArtifact { kind: self.kind })
    }

    fn verify_one(&self, signer: &TrustedSigner) -> Result<Verified, TrustError> {
        match signer {
            TrustedSigner::Key(key) => {
                // Whatever material the signature names, only the trusted
                // key's verdict counts.
                if !key.verifies(self.message()?, &self.signature) {
                    return Err(TrustError::BadSignature {
                        signer: format!("key {}", key.key_id()),
                    });
                }
                Ok(Verified {
                    signer: Signer::Key {
                        key_id: key.key_id(),
                    },
                    signed_at: None,
                })
            }
            TrustedSigner::Identity {
                root,
                subject,
                issuer,
            } => self.verify_identity(root, subject, issuer),
        }
    }

    fn verify_identity(
        &self,
        root: &crate::TrustedRoot,
        subject: &str,
        issuer: &str,
    ) -> Result<Verified, TrustError> {
        let der = self
            .certificate
            .as_deref()
            .ok_or_else(|| TrustError::SignerMismatch {
                reason: format!(
                    "this {} is signed with a key, not a certificate: an identity cannot \
                 verify it; trust the publisher's key instead",
                    self.kind
                ),
            })?;
        let leaf = Cert::parse(der)?;
        let subjects = leaf.subjects()?;
        if !subjects.iter().any(|s| s == subject) {
            return Err(TrustError::Identity {
                field: "subject",
                found: if subjects.is_empty() {
                    "(none)".to_owned()
                } else {
                    subjects.join(", ")
                },
                expected: subject.to_owned(),
            });
        }
        let found_issuer = leaf.oidc_issuer()?;
        if found_issuer.as_deref() != Some(issuer) {
            return Err(TrustError::Identity {
                field: "OIDC issuer",
                found: found_issuer.unwrap_or_else(|| "(none)".to_owned()),
                expected: issuer.to_owned(),
            });
        }
        if !leaf
            .key()?
            .verifies_any_hash(self.message()?, &self.signature)
        {
            return Err(TrustError::BadSignature {
                signer: format!("the certificate of {subject}"),
            });
        }
        if self.tlog.is_empty() {
            return Err(TrustError::tlog(
                "there is none: an identity signature must be recorded in a transparency \
                 log (do not sign with --tlog-upload=false)",
            ));
        }
        let mut signed_at = u64::MAX;
        for entry in &self.tlog {
            let t = entry.verify(root, &self.binding, &self.signature, &leaf.der)?;
            leaf.check_leaf(t)?;
            verify_chain(&leaf, root, t)?;
            signed_at = signed_at.min(t);
        }
        Ok(Verified {
            signer: Signer::Identity {
                subject: subject.to_owned(),
                issuer: issuer.to_owned(),
            },
            signed_at: Some(signed_at),
        })
    }
}

fn describe(signer: &TrustedSigner) -> String {
    match signer {
        TrustedSigner::Key(key) => format!("key {}", key.key_id()),
        TrustedSigner::Identity {
            subject, issuer, ..
        } => format!("{subject} (issuer {issuer})"),
    }
}
