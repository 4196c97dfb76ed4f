//! Identity ("keyless") signatures against a private Sigstore: accepted
//! when everything holds, and one refusal per broken link.

use std::sync::Arc;

use serde_json::Value;

use super::pki::{ISSUER, Keyless, Options, SIGNED_AT, SUBJECT, keyless_bundle, legacy_keyless};
use super::{DIGEST, OTHER_DIGEST};
use crate::{
    ManifestSignature, Signer, SigningKey, TrustError, TrustedRoot, TrustedSigner, sign_bundle,
    verify_manifest,
};

fn identity(root: &[u8]) -> Vec<TrustedSigner> {
    vec![TrustedSigner::Identity {
        root: Arc::new(TrustedRoot::from_json(root).unwrap()),
        subject: SUBJECT.to_owned(),
        issuer: ISSUER.to_owned(),
    }]
}

fn verify(fixture: &Keyless) -> Result<crate::Verified, TrustError> {
    verify_manifest(
        &ManifestSignature::Bundle(&fixture.bundle),
        DIGEST,
        &identity(&fixture.root),
    )
}

fn refused(opts: Options) -> TrustError {
    verify(&keyless_bundle(DIGEST, &opts)).unwrap_err()
}

#[test]
fn a_keyless_bundle_from_a_trusted_identity_is_accepted() {
    let verified = verify(&keyless_bundle(DIGEST, &Options::default())).unwrap();
    assert_eq!(
        verified.signer,
        Signer::Identity {
            subject: SUBJECT.to_owned(),
            issuer: ISSUER.to_owned()
        }
    );
    assert_eq!(verified.signed_at, Some(SIGNED_AT));
    assert_eq!(
        verified.signer.to_string(),
        format!("{SUBJECT} (issuer {ISSUER})")
    );
}

#[test]
fn a_keyless_bundle_for_another_digest_is_refused() {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let err = verify_manifest(
        &ManifestSignature::Bundle(&fixture.bundle),
        OTHER_DIGEST,
        &identity(&fixture.root),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
}

#[test]
fn another_subject_is_refused() {
    let err = refused(Options {
        subject: "https://github.com/mallory/tool/.github/workflows/release.yml@refs/heads/main"
            .to_owned(),
        ..Options::default()
    });
    assert!(
        matches!(
            err,
            TrustError::Identity {
                field: "subject",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("mallory"), "{err}");
}

#[test]
fn an_email_subject_matches_exactly() {
    let opts = Options {
        subject: "dev@acme.test".to_owned(),
        ..Options::default()
    };
    let fixture = keyless_bundle(DIGEST, &opts);
    let signers = |subject: &str| {
        vec![TrustedSigner::Identity {
            root: Arc::new(TrustedRoot::from_json(&fixture.root).unwrap()),
            subject: subject.to_owned(),
            issuer: ISSUER.to_owned(),
        }]
    };
    let sig = ManifestSignature::Bundle(&fixture.bundle);
    verify_manifest(&sig, DIGEST, &signers("dev@acme.test")).unwrap();
    let err = verify_manifest(&sig, DIGEST, &signers("Dev@acme.test")).unwrap_err();
    assert!(matches!(err, TrustError::Identity { .. }), "{err}");
}

#[test]
fn another_issuer_is_refused() {
    let err = refused(Options {
        issuer: "https://accounts.example.test".to_owned(),
        ..Options::default()
    });
    assert!(
        matches!(
            err,
            TrustError::Identity {
                field: "OIDC issuer",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_legacy_issuer_extension_is_read() {
    let fixture = keyless_bundle(
        DIGEST,
        &Options {
            legacy_issuer: true,
            ..Options::default()
        },
    );
    verify(&fixture).unwrap();
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused() {
    let err = refused(Options {
        root_trusts_other_ca: true,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::Certificate { .. }), "{err}");
    assert!(err.to_string().contains("does not chain"), "{err}");
}

#[test]
fn a_certificate_expired_at_the_log_time_is_refused() {
    let err = refused(Options {
        integrated_time: SIGNED_AT + 3 * 86_400,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::Certificate { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn a_keyless_signature_without_a_log_entry_is_refused() {
    let err = refused(Options {
        with_tlog: false,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::Tlog { .. }), "{err}");
}

#[test]
fn a_signed_entry_timestamp_by_another_key_is_refused() {
    let err = refused(Options {
        set_by_other_key: true,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::Tlog { .. }), "{err}");
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");
}

#[test]
fn a_log_body_naming_another_signature_is_refused() {
    let err = refused(Options {
        body_names_other_signature: true,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::Tlog { .. }), "{err}");
    assert!(err.to_string().contains("another signature"), "{err}");
}

#[test]
fn a_log_body_naming_another_certificate_is_refused() {
    let err = refused(Options {
        body_names_other_certificate: true,
        ..Options::default()
    });
    assert!(err.to_string().contains("another certificate"), "{err}");
}

#[test]
fn a_signature_not_made_by_the_certificate_key_is_refused() {
    let err = refused(Options {
        signed_by_other_key: true,
        ..Options::default()
    });
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
}

#[test]
fn a_certificate_without_code_signing_use_is_refused() {
    let err = refused(Options {
        leaf_code_signing: false,
        ..Options::default()
    });
    assert!(err.to_string().contains("codeSigning"), "{err}");
}

#[test]
fn a_ca_certificate_cannot_sign_artifacts() {
    let err = refused(Options {
        leaf_is_ca: true,
        ..Options::default()
    });
    assert!(err.to_string().contains("CA certificate"), "{err}");
}

/// Edits the trusted root, then verifies the default fixture against it.
fn refused_by_root(edit: impl FnOnce(&mut Value)) -> TrustError {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let mut json: Value = serde_json::from_slice(&fixture.root).unwrap();
    edit(&mut json);
    let root = serde_json::to_vec(&json).unwrap();
    verify_manifest(
        &ManifestSignature::Bundle(&fixture.bundle),
        DIGEST,
        &identity(&root),
    )
    .unwrap_err()
}

#[test]
fn a_log_key_not_yet_valid_at_the_entry_time_is_refused() {
    let err = refused_by_root(|root| {
        root["tlogs"][0]["publicKey"]["validFor"]["start"] = "2024-06-01T00:00:00Z".into();
    });
    assert!(matches!(err, TrustError::Tlog { .. }), "{err}");
    assert!(err.to_string().contains("not valid"), "{err}");
}

#[test]
fn a_ca_no_longer_valid_at_the_entry_time_is_refused() {
    let err = refused_by_root(|root| {
        root["certificateAuthorities"][0]["validFor"]["end"] = "2023-12-31T00:00:00Z".into();
    });
    assert!(matches!(err, TrustError::Certificate { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is not valid at 2024-01-01T12:00:00Z"),
        "{err}"
    );
}

#[test]
fn a_broken_inclusion_proof_is_refused() {
    let err = refused(Options {
        break_inclusion_proof: true,
        ..Options::default()
    });
    assert!(err.to_string().contains("inclusion proof"), "{err}");
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let err = refused(Options {
        checkpoint_by_other_key: true,
        ..Options::default()
    });
    assert!(err.to_string().contains("checkpoint"), "{err}");
}

#[test]
fn an_entry_from_a_log_the_root_does_not_list_is_refused() {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let mut json: Value = serde_json::from_slice(&fixture.bundle).unwrap();
    json["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"] = "AAAA".into();
    let bundle = serde_json::to_vec(&json).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bundle),
        DIGEST,
        &identity(&fixture.root),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not list"), "{err}");
}

#[test]
fn a_tampered_integrated_time_breaks_the_signed_entry_timestamp() {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let mut json: Value = serde_json::from_slice(&fixture.bundle).unwrap();
    json["verificationMaterial"]["tlogEntries"][0]["integratedTime"] =
        (SIGNED_AT + 60).to_string().into();
    let bundle = serde_json::to_vec(&json).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bundle),
        DIGEST,
        &identity(&fixture.root),
    )
    .unwrap_err();
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");
}

#[test]
fn a_legacy_keyless_signature_with_its_rekor_bundle_is_accepted() {
    let legacy = legacy_keyless(DIGEST, &Options::default());
    let sig = ManifestSignature::SimpleSigning {
        payload: &legacy.payload,
        signature_b64: &legacy.signature_b64,
        certificate_pem: Some(&legacy.certificate_pem),
        chain_pem: None,
        rekor_bundle_json: Some(&legacy.rekor_bundle),
    };
    let verified = verify_manifest(&sig, DIGEST, &identity(&legacy.root)).unwrap();
    assert_eq!(verified.signed_at, Some(SIGNED_AT));
    let without_log = ManifestSignature::SimpleSigning {
        payload: &legacy.payload,
        signature_b64: &legacy.signature_b64,
        certificate_pem: Some(&legacy.certificate_pem),
        chain_pem: None,
        rekor_bundle_json: None,
    };
    let err = verify_manifest(&without_log, DIGEST, &identity(&legacy.root)).unwrap_err();
    assert!(matches!(err, TrustError::Tlog { .. }), "{err}");
}

#[test]
fn keys_and_identities_do_not_stand_in_for_each_other() {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let stranger = SigningKey::generate().unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&fixture.bundle),
        DIGEST,
        &[TrustedSigner::Key(stranger.public_key())],
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    let keyed = sign_bundle(&stranger, DIGEST).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&keyed),
        DIGEST,
        &identity(&fixture.root),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::SignerMismatch { .. }), "{err}");
}

#[test]
fn a_trusted_root_without_a_log_or_with_bad_times_is_refused() {
    let fixture = keyless_bundle(DIGEST, &Options::default());
    let mut json: Value = serde_json::from_slice(&fixture.root).unwrap();
    json["tlogs"] = Value::Array(Vec::new());
    let err = TrustedRoot::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(matches!(err, TrustError::TrustedRoot { .. }), "{err}");
    let mut json: Value = serde_json::from_slice(&fixture.root).unwrap();
    json["mediaType"] = "application/json".into();
    let err = TrustedRoot::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(err.to_string().contains("mediaType"), "{err}");
    let mut json: Value = serde_json::from_slice(&fixture.root).unwrap();
    json["certificateAuthorities"][0]["validFor"]["start"] = "yesterday".into();
    let err = TrustedRoot::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(err.to_string().contains("yesterday"), "{err}");
}
