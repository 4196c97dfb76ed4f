//! Keys: the trusted public keys (ECDSA P-256, Ed25519) read from SPKI PEM,
//! the ECDSA P-256 signing key weld makes and reads (PKCS#8, SEC1), and the
//! wider set of keys a certificate may carry (P-384, RSA), which only the
//! certificate code sees.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::TrustError;
use crate::pem;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The DER of a P-256 SubjectPublicKeyInfo up to the uncompressed point:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The public half of a key weld trusts, as its SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes {
    spki: Vec<u8>,
    point: Vec<u8>,
}

/// A trusted public key: ECDSA P-256 (verifying SHA-256 signatures, what
/// cosign and `openssl dgst -sha256` make) or Ed25519.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signatures.
    EcdsaP256(KeyBytes),
    /// Ed25519 (pure, over the whole message).
    Ed25519(KeyBytes),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::EcdsaP256(_) => "EcdsaP256",
            Self::Ed25519(_) => "Ed25519",
        };
        write!(f, "PublicKey::{kind}({})", self.key_id())
    }
}

impl PublicKey {
    /// Reads an SPKI `PUBLIC KEY` PEM, as `cosign generate-key-pair` and
    /// `openssl ec -pubout` write it.
    ///
    /// # Errors
    ///
    /// A text without one `PUBLIC KEY` block, bad base64 or DER, or a key of
    /// another algorithm than P-256 or Ed25519.
    pub fn from_pem(text: &str) -> Result<Self, TrustError> {
        let der = pem::single(text, "public key", &["PUBLIC KEY"])?.1;
        Self::from_spki_der(&der)
    }

    /// Reads a DER SubjectPublicKeyInfo (what trusted_root.json's
    /// `rawBytes` and the bundle hint are made of).
    ///
    /// # Errors
    ///
    /// Bad DER, or a key of another algorithm than P-256 or Ed25519.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, TrustError> {
        match AnyKey::from_spki_der(der, "public key")? {
            AnyKey::P256(bytes) => Ok(Self::EcdsaP256(bytes)),
            AnyKey::Ed25519(bytes) => Ok(Self::Ed25519(bytes)),
            AnyKey::P384(_) => Err(unsupported("ECDSA P-384")),
            AnyKey::Rsa(_) => Err(unsupported("RSA")),
        }
    }

    /// `sha256:<hex>` of the SPKI DER: the name a lock file and `weld list`
    /// show for the key.
    #[must_use]
    pub fn key_id(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.spki_der())))
    }

    /// The SPKI `PUBLIC KEY` PEM, readable by cosign and openssl.
    #[must_use]
    pub fn to_pem(&self) -> String {
        pem::encode("PUBLIC KEY", self.spki_der())
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        match self {
            Self::EcdsaP256(bytes) | Self::Ed25519(bytes) => &bytes.spki,
        }
    }

    /// cosign's key hint in a bundle: base64 of the SHA-256 of the SPKI DER.
    pub(crate) fn hint(&self) -> String {
        STANDARD.encode(Sha256::digest(self.spki_der()))
    }

    /// Whether `signature` is this key's signature over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::EcdsaP256(bytes) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, &bytes.point)
                    .verify(message, signature)
                    .is_ok()
            }
            Self::Ed25519(bytes) => UnparsedPublicKey::new(&sig::ED25519, &bytes.point)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

fn unsupported(algorithm: &str) -> TrustError {
    TrustError::UnsupportedKey {
        what: "public key",
        algorithm: algorithm.to_owned(),
    }
}

/// Any key a certificate in a Sigstore chain may carry. Trusted keys are
/// the narrower [`PublicKey`]; this one exists so that a Fulcio-style CA
/// (P-384) and private CAs (RSA) can be checked.
#[derive(Clone)]
pub(crate) enum AnyKey {
    P256(KeyBytes),
    P384(KeyBytes),
    Ed25519(KeyBytes),
    Rsa(KeyBytes),
}

/// A certificate signature algorithm weld can check.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SigHash {
    Sha256,
    Sha384,
    Sha512,
    /// Ed25519 hashes internally.
    None,
}

impl AnyKey {
    pub(crate) fn from_spki_der(der: &[u8], what: &'static str) -> Result<Self, TrustError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|source| TrustError::der(what, source))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| TrustError::Pem {
                what,
                reason: "the key's bit string has unused bits".to_owned(),
            })?
            .to_vec();
        let bytes = KeyBytes {
            spki: der.to_vec(),
            point,
        };
        let oid = spki.algorithm.oid;
        if oid == OID_ED25519 {
            if bytes.point.len() != 32 {
                return Err(bad_length(what, "Ed25519", 32, bytes.point.len()));
            }
            return Ok(Self::Ed25519(bytes));
        }
        if oid == OID_RSA {
            return Ok(Self::Rsa(bytes));
        }
        if oid != OID_EC_PUBLIC_KEY {
            return Err(TrustError::UnsupportedKey {
                what,
                algorithm: format!("algorithm {oid}"),
            });
        }
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|_| TrustError::UnsupportedKey {
                what,
                algorithm: "an EC key without a named curve".to_owned(),
            })?;
        let (len, key): (usize, fn(KeyBytes) -> Self) = if curve == OID_P256 {
            (65, Self::P256)
        } else if curve == OID_P384 {
            (97, Self::P384)
        } else {
            return Err(TrustError::UnsupportedKey {
                what,
                algorithm: format!("elliptic curve {curve}"),
            });
        };
        if bytes.point.len() != len || bytes.point.first() != Some(&4) {
            return Err(bad_length(
                what,
                "uncompressed EC point",
                len,
                bytes.point.len(),
            ));
        }
        Ok(key(bytes))
    }

    /// Verifies a signature over `message` by a certificate's key. The hash
    /// is the signer's choice, not the key's: Sigstore clients sign with
    /// P-384 keys over SHA-256 (sigstore-python) as well as SHA-384
    /// (cosign), so both are accepted for EC keys, the conventional one
    /// first. Either hash is collision resistant, so this widens nothing an
    /// attacker without the private key could use.
    pub(crate) fn verifies_any_hash(&self, message: &[u8], signature: &[u8]) -> bool {
        let hashes: &[SigHash] = match self {
            Self::P256(_) => &[SigHash::Sha256, SigHash::Sha384],
            Self::P384(_) => &[SigHash::Sha384, SigHash::Sha256],
            Self::Rsa(_) => &[SigHash::Sha256, SigHash::Sha384, SigHash::Sha512],
            Self::Ed25519(_) => &[SigHash::None],
        };
        hashes
            .iter()
            .any(|hash| self.verifies(*hash, message, signature))
    }

    pub(crate) fn verifies(&self, hash: SigHash, message: &[u8], signature: &[u8]) -> bool {
        let (algorithm, bytes): (&dyn sig::VerificationAlgorithm, &KeyBytes) = match (self, hash) {
            (Self::P256(b), SigHash::Sha256) => (&sig::ECDSA_P256_SHA256_ASN1, b),
            (Self::P256(b), SigHash::Sha384) => (&sig::ECDSA_P256_SHA384_ASN1, b),
            (Self::P384(b), SigHash::Sha256) => (&sig::ECDSA_P384_SHA256_ASN1, b),
            (Self::P384(b), SigHash::Sha384) => (&sig::ECDSA_P384_SHA384_ASN1, b),
            (Self::Ed25519(b), SigHash::None) => (&sig::ED25519, b),
            (Self::Rsa(b), SigHash::Sha256) => (&sig::RSA_PKCS1_2048_8192_SHA256, b),
            (Self::Rsa(b), SigHash::Sha384) => (&sig::RSA_PKCS1_2048_8192_SHA384, b),
            (Self::Rsa(b), SigHash::Sha512) => (&sig::RSA_PKCS1_2048_8192_SHA512, b),
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &bytes.point)
            .verify(message, signature)
            .is_ok()
    }
}

fn bad_length(what: &'static str, kind: &str, want: usize, got: usize) -> TrustError {
    TrustError::Pem {
        what,
        reason: format!("a {kind} key has {want} bytes, this one has {got}"),
    }
}

/// An ECDSA P-256 private key: what `weld keygen` makes and `weld sign`
/// signs with. Signatures are ASN.1 DER over SHA-256, as cosign and
/// `openssl dgst -sha256 -sign` make them.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half.
        write!(f, "SigningKey({})", self.public_key().key_id())
    }
}

impl SigningKey {
    /// A fresh key from the system's random generator.
    ///
    /// # Errors
    ///
    /// Only if the system random generator fails.
    pub fn generate() -> Result<Self, TrustError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| TrustError::Random {
                doing: "generating a key",
            })?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads an unencrypted PKCS#8 `PRIVATE KEY` PEM (`openssl genpkey
    /// -algorithm EC -pkeyopt ec_paramgen_curve:P-256`) or a SEC1 `EC
    /// PRIVATE KEY` PEM (`openssl ecparam -genkey`).
    ///
    /// # Errors
    ///
    /// No such block, an encrypted key (decrypt it first, e.g. `openssl pkcs8
    /// -topk8 -nocrypt`), or a key that is not P-256.
    pub fn from_pem(text: &str) -> Result<Self, TrustError> {
        let (label, der) = pem::single(
            text,
            "private key",
            &["PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"],
        )?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "EC PRIVATE KEY" => Self::from_pkcs8_der(&sec1_to_pkcs8(&der)),
            _ => Err(TrustError::Pem {
                what: "private key",
                reason: "the key is encrypted; decrypt it first \
                         (`openssl pkcs8 -in KEY -nocrypt -topk8`)"
                    .to_owned(),
            }),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, TrustError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|source| TrustError::KeyRejected {
                what: "private key (weld signs with ECDSA P-256 keys only)",
                source,
            })?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The key as an unencrypted PKCS#8 `PRIVATE KEY` PEM.
    #[must_use]
    pub fn to_pem(&self) -> String {
        pem::encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        let point = self.pair.public_key().as_ref().to_vec();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&point);
        PublicKey::EcdsaP256(KeyBytes { spki, point })
    }

    /// An ASN.1 DER ECDSA-P256-SHA256 signature over `message`.
    ///
    /// # Errors
    ///
    /// Only if the system random generator fails.
    pub fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, TrustError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| TrustError::Random { doing: "signing" })
    }

    /// An ASN.1 DER ECDSA-P256-SHA256 signature over `message`, what
    /// `openssl dgst -sha256 -sign` makes.
    ///
    /// # Panics
    ///
    /// If the system random generator fails (ring signs with a random
    /// nonce); use [`SigningKey::try_sign`] to get an error instead.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.try_sign(message)
            .expect("the system random generator failed while signing")
    }
}

/// Wraps a SEC1 ECPrivateKey in PKCS#8 (RFC 5208) for P-256, which is what
/// ring reads.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 }, taken from the
    // fixed SPKI prefix (bytes 2..23).
    let algorithm = &P256_SPKI_PREFIX[2..23];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(algorithm);
    body.extend(tlv(0x04, sec1));
    tlv(0x30, &body)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}
