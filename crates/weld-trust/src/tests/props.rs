//! Properties over untrusted input: no parser panics on arbitrary bytes,
//! and no single-byte change to a signed payload or its signature still
//! verifies.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::DIGEST;
use crate::{
    BlobSignature, ManifestSignature, PublicKey, SigningKey, TrustedRoot, TrustedSigner,
    simple_signing_payload, verify_blob, verify_manifest,
};

/// One key for every case: generating a key per case would dominate.
fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().unwrap())
}

fn signers() -> Vec<TrustedSigner> {
    vec![TrustedSigner::Key(key().public_key())]
}

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = verify_manifest(&ManifestSignature::Bundle(&bytes), DIGEST, &signers());
        let _ = verify_manifest(
            &ManifestSignature::SimpleSigning {
                payload: &bytes,
                signature_b64: &text,
                certificate_pem: Some(&text),
                chain_pem: None,
                rekor_bundle_json: Some(&text),
            },
            DIGEST,
            &signers(),
        );
        let _ = verify_blob(&"0".repeat(64), Some(&bytes), &BlobSignature::Bundle(&bytes), &signers());
        let _ = TrustedRoot::from_json(&bytes);
        let _ = PublicKey::from_pem(&text);
        let _ = SigningKey::from_pem(&text);
    }

    #[test]
    fn no_single_byte_change_to_a_signed_payload_or_signature_verifies(
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        in_signature in any::<bool>(),
    ) {
        let mut payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
        let mut signature = key().sign(&payload);
        if in_signature {
            let i = at.index(signature.len());
            signature[i] ^= flip;
        } else {
            let i = at.index(payload.len());
            payload[i] ^= flip;
        }
        let b64 = STANDARD.encode(&signature);
        let result = verify_manifest(
            &ManifestSignature::SimpleSigning {
                payload: &payload,
                signature_b64: &b64,
                certificate_pem: None,
                chain_pem: None,
                rekor_bundle_json: None,
            },
            DIGEST,
            &signers(),
        );
        prop_assert!(result.is_err());
    }
}
