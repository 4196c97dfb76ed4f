//! Key-signed formats: round trips, and each way a key signature is
//! refused (tampered, wrong key, another digest, malformed input).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{DIGEST, OTHER_DIGEST};
use crate::root::{format_unix, parse_rfc3339};
use crate::tlog::verify_inclusion;
use crate::{
    BlobSignature, ManifestSignature, PublicKey, Signer, SigningKey, TrustError, TrustedSigner,
    sign_blob, sign_bundle, simple_signing_payload, verify_blob, verify_manifest,
    verify_manifest_bytes,
};

fn simple<'a>(payload: &'a [u8], signature_b64: &'a str) -> ManifestSignature<'a> {
    ManifestSignature::SimpleSigning {
        payload,
        signature_b64,
        certificate_pem: None,
        chain_pem: None,
        rekor_bundle_json: None,
    }
}

fn key_signer(key: &SigningKey) -> Vec<TrustedSigner> {
    vec![TrustedSigner::Key(key.public_key())]
}

#[test]
fn a_simple_signing_signature_verifies_with_its_key() {
    let key = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    let sig = STANDARD.encode(key.sign(&payload));
    let verified = verify_manifest(&simple(&payload, &sig), DIGEST, &key_signer(&key)).unwrap();
    assert_eq!(
        verified.signer,
        Signer::Key {
            key_id: key.public_key().key_id()
        }
    );
    assert_eq!(verified.signed_at, None);
}

#[test]
fn the_simple_signing_payload_is_the_json_cosign_writes() {
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"registry.test/acme/tool"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
}

#[test]
fn a_tampered_payload_is_refused() {
    let key = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    let sig = STANDARD.encode(key.sign(&payload));
    let tampered = simple_signing_payload("registry.test/acme/toot", DIGEST);
    let err = verify_manifest(&simple(&tampered, &sig), DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    assert!(
        err.to_string().contains(&key.public_key().key_id()),
        "{err}"
    );
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    let sig = STANDARD.encode(other.sign(&payload));
    let err = verify_manifest(&simple(&payload, &sig), DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
}

#[test]
fn a_valid_signature_copied_onto_another_digest_names_both_digests() {
    let key = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    let sig = STANDARD.encode(key.sign(&payload));
    let err =
        verify_manifest(&simple(&payload, &sig), OTHER_DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(DIGEST) && text.contains(OTHER_DIGEST),
        "{text}"
    );
}

#[test]
fn a_payload_with_an_unknown_critical_field_or_type_is_refused() {
    let key = SigningKey::generate().unwrap();
    let extra = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature","extra":1}},"optional":null}}"#
    );
    let wrong_type = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"something else"}},"optional":{{"a":"b"}}}}"#
    );
    for (payload, expect_json) in [(extra, true), (wrong_type, false)] {
        let sig = STANDARD.encode(key.sign(payload.as_bytes()));
        let err = verify_manifest(&simple(payload.as_bytes(), &sig), DIGEST, &key_signer(&key))
            .unwrap_err();
        if expect_json {
            assert!(matches!(err, TrustError::Json { .. }), "{err}");
        } else {
            assert!(matches!(err, TrustError::Payload { .. }), "{err}");
        }
    }
}

#[test]
fn malformed_base64_json_pem_and_digests_are_named() {
    let key = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("r", DIGEST);
    let err =
        verify_manifest(&simple(&payload, "not base64!"), DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::Base64 { .. }), "{err}");
    let err =
        verify_manifest(&simple(b"{not json", "AAAA"), DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::Json { .. }), "{err}");
    let err =
        verify_manifest(&ManifestSignature::Bundle(b"[]"), DIGEST, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::Json { .. }), "{err}");
    let err =
        verify_manifest(&simple(&payload, "AAAA"), "sha256:ABC", &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::InvalidDigest { .. }), "{err}");
    let err = PublicKey::from_pem("hello").unwrap_err();
    assert!(matches!(err, TrustError::Pem { .. }), "{err}");
    let err = PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n")
        .unwrap_err();
    assert!(matches!(err, TrustError::Base64 { .. }), "{err}");
    let err = PublicKey::from_pem(&key.to_pem()).unwrap_err();
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
    let err = SigningKey::from_pem(&key.public_key().to_pem()).unwrap_err();
    assert!(matches!(err, TrustError::Pem { .. }), "{err}");
}

#[test]
fn no_signer_means_no_trust() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let err = verify_manifest(&ManifestSignature::Bundle(&bundle), DIGEST, &[]).unwrap_err();
    assert!(matches!(err, TrustError::NoSigners), "{err}");
}

#[test]
fn keys_round_trip_through_pem_and_keep_their_id() {
    let key = SigningKey::generate().unwrap();
    let again = SigningKey::from_pem(&key.to_pem()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
    assert_eq!(public, key.public_key());
    let id = public.key_id();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
}

#[test]
fn a_weld_bundle_has_the_shape_cosign_3_writes_and_verifies() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let json: Value = serde_json::from_slice(&bundle).unwrap();
    assert_eq!(
        json["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        json["verificationMaterial"]["publicKey"]["hint"],
        key.public_key().hint()
    );
    let envelope = &json["dsseEnvelope"];
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let statement: Value = serde_json::from_slice(
        &STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &DIGEST[7..]);
    let verified = verify_manifest(
        &ManifestSignature::Bundle(&bundle),
        DIGEST,
        &key_signer(&key),
    )
    .unwrap();
    assert_eq!(
        verified.signer.to_string(),
        format!("key {}", key.public_key().key_id())
    );
}

#[test]
fn a_bundle_for_another_digest_is_refused_naming_both() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bundle),
        OTHER_DIGEST,
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(DIGEST) && err.to_string().contains(OTHER_DIGEST));
}

/// Re-signs a statement with another predicate, as an attestation would be.
#[test]
fn an_attestation_bundle_is_not_a_signature() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let mut json: Value = serde_json::from_slice(&bundle).unwrap();
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"https://cyclonedx.org/bom","predicate":{{}}}}"#,
        &DIGEST[7..]
    );
    let sig = key.sign(&crate::bundle::pae(
        "application/vnd.in-toto+json",
        statement.as_bytes(),
    ));
    json["dsseEnvelope"]["payload"] = STANDARD.encode(&statement).into();
    json["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(sig).into();
    let bytes = serde_json::to_vec(&json).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bytes),
        DIGEST,
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::Payload { .. }), "{err}");
    assert!(err.to_string().contains("cyclonedx"), "{err}");
}

#[test]
fn a_dsse_envelope_of_another_payload_type_is_refused() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let mut json: Value = serde_json::from_slice(&bundle).unwrap();
    json["dsseEnvelope"]["payloadType"] = "text/plain".into();
    let bytes = serde_json::to_vec(&json).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bytes),
        DIGEST,
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::Bundle { .. }), "{err}");
    assert!(err.to_string().contains("text/plain"), "{err}");
}

#[test]
fn a_tampered_bundle_signature_is_refused() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let mut json: Value = serde_json::from_slice(&bundle).unwrap();
    let other = SigningKey::generate().unwrap();
    let statement = STANDARD
        .decode(json["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let sig = other.sign(&crate::bundle::pae(
        "application/vnd.in-toto+json",
        &statement,
    ));
    json["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(sig).into();
    let bytes = serde_json::to_vec(&json).unwrap();
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bytes),
        DIGEST,
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
}

#[test]
fn the_first_signer_that_verifies_wins_and_failures_are_listed() {
    let key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let bundle = sign_bundle(&key, DIGEST).unwrap();
    let signers = vec![
        TrustedSigner::Key(stranger.public_key()),
        TrustedSigner::Key(key.public_key()),
    ];
    let verified = verify_manifest(&ManifestSignature::Bundle(&bundle), DIGEST, &signers).unwrap();
    assert_eq!(
        verified.signer,
        Signer::Key {
            key_id: key.public_key().key_id()
        }
    );
    let strangers = vec![
        TrustedSigner::Key(stranger.public_key()),
        TrustedSigner::Key(SigningKey::generate().unwrap().public_key()),
    ];
    let err = verify_manifest(&ManifestSignature::Bundle(&bundle), DIGEST, &strangers).unwrap_err();
    let TrustError::NoneVerified { failures } = &err else {
        panic!("{err}");
    };
    assert_eq!(failures.len(), 2);
    assert!(
        err.to_string().contains(&stranger.public_key().key_id()),
        "{err}"
    );
}

#[test]
fn a_detached_blob_signature_verifies_over_the_bytes() {
    let key = SigningKey::generate().unwrap();
    let blob = b"\0asm tool bytes";
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob));
    let sig = sign_blob(&key, blob);
    let detached = BlobSignature::Detached {
        signature_b64: &sig,
    };
    verify_blob(&digest, Some(blob), &detached, &key_signer(&key)).unwrap();
    let err = verify_blob(&digest, None, &detached, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::NeedsArtifact { .. }), "{err}");
    let err = verify_blob(&digest, Some(b"other bytes"), &detached, &key_signer(&key)).unwrap_err();
    assert!(matches!(err, TrustError::BlobDigest { .. }), "{err}");
}

/// What `cosign sign-blob --bundle` writes with a key and no log.
fn message_bundle(key: &SigningKey, blob: &[u8]) -> Vec<u8> {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(blob);
    serde_json::to_vec(&serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": key.public_key().hint()}},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(key.sign(blob))
        }
    }))
    .unwrap()
}

#[test]
fn a_message_signature_bundle_verifies_with_the_bytes_and_names_its_digest() {
    let key = SigningKey::generate().unwrap();
    let blob = b"a blob";
    let bundle = message_bundle(&key, blob);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob));
    verify_blob(
        &digest,
        Some(blob),
        &BlobSignature::Bundle(&bundle),
        &key_signer(&key),
    )
    .unwrap();
    let err = verify_blob(
        &digest,
        None,
        &BlobSignature::Bundle(&bundle),
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::NeedsArtifact { .. }), "{err}");
    let err = verify_blob(
        &"0".repeat(64),
        None,
        &BlobSignature::Bundle(&bundle),
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
    // The same shape over a manifest needs the manifest's bytes.
    let manifest_digest = format!("sha256:{digest}");
    let err = verify_manifest(
        &ManifestSignature::Bundle(&bundle),
        &manifest_digest,
        &key_signer(&key),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::NeedsArtifact { .. }), "{err}");
    verify_manifest_bytes(&ManifestSignature::Bundle(&bundle), blob, &key_signer(&key)).unwrap();
}

#[test]
fn rfc3339_times_parse_and_format() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339("2024-01-01T12:00:00.000Z"),
        Some(1_704_110_400)
    );
    assert_eq!(
        parse_rfc3339("2024-01-01T13:00:00+01:00"),
        Some(1_704_110_400)
    );
    assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    assert_eq!(parse_rfc3339("2024-01-01 12:00:00Z"), None);
    assert_eq!(parse_rfc3339("2024-13-01T12:00:00Z"), None);
    assert_eq!(parse_rfc3339("2024-01-01T12:00:00"), None);
    assert_eq!(format_unix(1_709_164_800), "2024-02-29T00:00:00Z");
}

#[test]
fn inclusion_proofs_verify_for_every_leaf_of_every_small_tree() {
    use super::pki::{audit_path, leaf_hash, tree_hash};
    for size in 1..=17usize {
        let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let root = tree_hash(&leaves);
        for index in 0..size {
            let path = audit_path(index, &leaves);
            let (i, n) = (index as u64, size as u64);
            assert!(
                verify_inclusion(i, n, leaves[index], &path, &root),
                "{index}/{size}"
            );
            let wrong = (index + 1) % size;
            if wrong != index {
                assert!(!verify_inclusion(i, n, leaves[wrong], &path, &root));
            }
            assert!(!verify_inclusion(n, n, leaves[index], &path, &root));
        }
    }
}
