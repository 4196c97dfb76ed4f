//! Interop with an independent implementation, the `openssl` command line:
//! what weld signs, openssl verifies; what openssl signs (a cosign payload,
//! with keys openssl made), weld verifies.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use super::DIGEST;
use crate::{
    ManifestSignature, PublicKey, SigningKey, TrustError, TrustedSigner, simple_signing_payload,
    verify_manifest,
};

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn simple<'a>(payload: &'a [u8], signature_b64: &'a str) -> ManifestSignature<'a> {
    ManifestSignature::SimpleSigning {
        payload,
        signature_b64,
        certificate_pem: None,
        chain_pem: None,
        rekor_bundle_json: None,
    }
}

#[test]
fn openssl_verifies_a_weld_signature_over_a_cosign_payload() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    std::fs::write(dir.path().join("payload"), &payload).unwrap();
    std::fs::write(dir.path().join("sig.der"), key.sign(&payload)).unwrap();
    std::fs::write(dir.path().join("pub.pem"), key.public_key().to_pem()).unwrap();
    let out = openssl(
        dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.der",
            "payload",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
    // And weld's private key PEM is one openssl reads.
    std::fs::write(dir.path().join("key.pem"), key.to_pem()).unwrap();
    openssl(dir.path(), &["pkey", "-in", "key.pem", "-noout"]);
}

#[test]
fn weld_verifies_an_openssl_signature_over_a_cosign_payload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
    );
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    std::fs::write(d.join("payload"), &payload).unwrap();
    openssl(
        d,
        &[
            "dgst", "-sha256", "-sign", "key.pem", "-out", "sig.der", "payload",
        ],
    );
    let sig = STANDARD.encode(std::fs::read(d.join("sig.der")).unwrap());
    let public = PublicKey::from_pem(&read(d, "pub.pem")).unwrap();
    let signers = [TrustedSigner::Key(public.clone())];
    verify_manifest(&simple(&payload, &sig), DIGEST, &signers).unwrap();
    // The key id is the SHA-256 of the DER openssl writes for the key.
    openssl(
        d,
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
    );
    let der = std::fs::read(d.join("pub.der")).unwrap();
    assert_eq!(
        public.key_id(),
        format!("sha256:{}", hex::encode(Sha256::digest(der)))
    );
    // openssl's PKCS#8 private key signs in weld too.
    let key = SigningKey::from_pem(&read(d, "key.pem")).unwrap();
    assert_eq!(key.public_key(), public);
}

#[test]
fn a_sec1_private_key_from_openssl_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.pem",
        ],
    );
    assert!(read(d, "sec1.pem").contains("BEGIN EC PRIVATE KEY"));
    openssl(d, &["ec", "-in", "sec1.pem", "-pubout", "-out", "pub.pem"]);
    let key = SigningKey::from_pem(&read(d, "sec1.pem")).unwrap();
    assert_eq!(
        key.public_key(),
        PublicKey::from_pem(&read(d, "pub.pem")).unwrap()
    );
}

#[test]
fn an_ed25519_signature_made_by_openssl_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"]);
    openssl(d, &["pkey", "-in", "ed.pem", "-pubout", "-out", "ed.pub"]);
    let payload = simple_signing_payload("registry.test/acme/tool", DIGEST);
    std::fs::write(d.join("payload"), &payload).unwrap();
    openssl(
        d,
        &[
            "pkeyutl", "-sign", "-rawin", "-inkey", "ed.pem", "-in", "payload", "-out", "sig",
        ],
    );
    let sig = STANDARD.encode(std::fs::read(d.join("sig")).unwrap());
    let public = PublicKey::from_pem(&read(d, "ed.pub")).unwrap();
    assert!(matches!(public, PublicKey::Ed25519(_)));
    verify_manifest(
        &simple(&payload, &sig),
        DIGEST,
        &[TrustedSigner::Key(public)],
    )
    .unwrap();
}

#[test]
fn p384_and_rsa_public_keys_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
    );
    openssl(
        d,
        &["pkey", "-in", "p384.pem", "-pubout", "-out", "p384.pub"],
    );
    let err = PublicKey::from_pem(&read(d, "p384.pub")).unwrap_err();
    assert!(matches!(err, TrustError::UnsupportedKey { .. }), "{err}");
    assert!(err.to_string().contains("P-384"), "{err}");
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
    );
    openssl(d, &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub"]);
    let err = PublicKey::from_pem(&read(d, "rsa.pub")).unwrap_err();
    assert!(err.to_string().contains("RSA"), "{err}");
    let err = SigningKey::from_pem(&read(d, "p384.pem")).unwrap_err();
    assert!(matches!(err, TrustError::KeyRejected { .. }), "{err}");
}

/// sigstore-python signs with P-384 certificate keys over SHA-256, cosign
/// over SHA-384: a certificate key accepts either, and nothing else.
#[test]
fn a_p384_certificate_key_accepts_sha256_and_sha384_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "k.pem",
        ],
    );
    openssl(
        d,
        &[
            "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "k.der",
        ],
    );
    std::fs::write(d.join("msg"), b"artifact").unwrap();
    let key = crate::keys::AnyKey::from_spki_der(&std::fs::read(d.join("k.der")).unwrap(), "key")
        .unwrap();
    for hash in ["-sha256", "-sha384"] {
        openssl(d, &["dgst", hash, "-sign", "k.pem", "-out", "sig", "msg"]);
        let sig = std::fs::read(d.join("sig")).unwrap();
        assert!(key.verifies_any_hash(b"artifact", &sig), "{hash}");
        assert!(!key.verifies_any_hash(b"artifacT", &sig), "{hash}");
    }
}
