//! The Sigstore `trusted_root.json` an operator supplies: the certificate
//! authorities (each a chain, intermediate first, root last, with the
//! period it may issue in) and the transparency logs (each a public key,
//! its log id and the period it may sign in). Parsed once, when the trust
//! policy is loaded; verification only looks things up.
//!
//! `ctlogs` and `timestampAuthorities` are accepted and ignored: weld
//! checks no SCT and no RFC 3161 timestamp (the transparency-log entry is
//! the time source).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::TrustError;
use crate::keys::{AnyKey, SigHash};

const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// A parsed `trusted_root.json`: the CAs and transparency logs weld trusts
/// for identity ("keyless") signatures.
pub struct TrustedRoot {
    pub(crate) authorities: Vec<Authority>,
    pub(crate) logs: Vec<Log>,
}

impl fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedRoot")
            .field(
                "authorities",
                &self.authorities.iter().map(|a| &a.uri).collect::<Vec<_>>(),
            )
            .field(
                "logs",
                &self.logs.iter().map(|l| &l.base_url).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A certificate authority: its chain (DER, issuing certificate first,
/// root last) and when it may issue.
pub(crate) struct Authority {
    pub(crate) uri: String,
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) valid: Validity,
}

/// A transparency log: its key, the id entries name it by, and when its
/// key may sign.
pub(crate) struct Log {
    pub(crate) base_url: String,
    pub(crate) key_id: Vec<u8>,
    pub(crate) key: AnyKey,
    pub(crate) hash: SigHash,
    pub(crate) valid: Validity,
}

/// A period in unix seconds; an open end is unbounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Validity {
    pub(crate) start: u64,
    pub(crate) end: Option<u64>,
}

impl Validity {
    pub(crate) fn contains(&self, t: u64) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<LogJson>,
    #[serde(default)]
    certificate_authorities: Vec<AuthorityJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    #[serde(default)]
    base_url: String,
    public_key: PublicKeyJson,
    log_id: LogIdJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    raw_bytes: String,
    #[serde(default)]
    key_details: Option<String>,
    valid_for: ValidForJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdJson {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityJson {
    #[serde(default)]
    uri: String,
    cert_chain: CertChainJson,
    valid_for: ValidForJson,
}

#[derive(Deserialize)]
struct CertChainJson {
    certificates: Vec<RawBytesJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct ValidForJson {
    start: String,
    #[serde(default)]
    end: Option<String>,
}

impl TrustedRoot {
    /// Parses a Sigstore `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`).
    ///
    /// # Errors
    ///
    /// Malformed JSON, base64, DER, timestamps, an unsupported log key, or a
    /// root with no certificate authority and no log (it could trust
    /// nothing).
    pub fn from_json(bytes: &[u8]) -> Result<Self, TrustError> {
        let json: RootJson = serde_json::from_slice(bytes).map_err(|source| TrustError::Json {
            what: "trusted root",
            source,
        })?;
        if !json.media_type.starts_with(MEDIA_TYPE_PREFIX) {
            return Err(root_error(format!(
                "mediaType is {:?}, expected {MEDIA_TYPE_PREFIX}+json;version=0.1",
                json.media_type
            )));
        }
        let authorities = json
            .certificate_authorities
            .into_iter()
            .enumerate()
            .map(|(i, ca)| authority(i, ca))
            .collect::<Result<Vec<_>, _>>()?;
        let logs = json
            .tlogs
            .into_iter()
            .enumerate()
            .map(|(i, log)| tlog(i, log))
            .collect::<Result<Vec<_>, _>>()?;
        if authorities.is_empty() || logs.is_empty() {
            return Err(root_error(
                "it needs at least one certificate authority and one transparency log \
                 (weld requires a log entry for every identity signature)",
            ));
        }
        Ok(Self { authorities, logs })
    }

    pub(crate) fn log(&self, key_id: &[u8]) -> Option<&Log> {
        self.logs.iter().find(|log| log.key_id == key_id)
    }
}

fn authority(index: usize, ca: AuthorityJson) -> Result<Authority, TrustError> {
    let what = format!("certificateAuthorities[{index}]");
    if ca.cert_chain.certificates.is_empty() {
        return Err(root_error(format!("{what} has an empty certChain")));
    }
    let chain = ca
        .cert_chain
        .certificates
        .iter()
        .enumerate()
        .map(|(j, cert)| {
            let der = decode(&format!("{what}.certChain[{j}]"), &cert.raw_bytes)?;
            crate::x509::Cert::parse(&der)?;
            Ok(der)
        })
        .collect::<Result<Vec<_>, TrustError>>()?;
    Ok(Authority {
        uri: ca.uri,
        chain,
        valid: validity(&what, &ca.valid_for)?,
    })
}

fn tlog(index: usize, log: LogJson) -> Result<Log, TrustError> {
    let what = format!("tlogs[{index}]");
    let der = decode(
        &format!("{what}.publicKey.rawBytes"),
        &log.public_key.raw_bytes,
    )?;
    let key = AnyKey::from_spki_der(&der, "transparency log key")?;
    let hash = match log.public_key.key_details.as_deref() {
        None => None,
        Some(d) if d.ends_with("SHA_256") || d.ends_with("SHA256") => Some(SigHash::Sha256),
        Some(d) if d.ends_with("SHA_384") || d.ends_with("SHA384") => Some(SigHash::Sha384),
        Some(d) if d.ends_with("SHA_512") || d.ends_with("SHA512") => Some(SigHash::Sha512),
        Some(d) if d.contains("ED25519") => Some(SigHash::None),
        Some(other) => {
            return Err(root_error(format!(
                "{what} has keyDetails {other}, which weld cannot verify"
            )));
        }
    };
    let hash = hash.unwrap_or(match key {
        AnyKey::P384(_) => SigHash::Sha384,
        AnyKey::Ed25519(_) => SigHash::None,
        AnyKey::P256(_) | AnyKey::Rsa(_) => SigHash::Sha256,
    });
    Ok(Log {
        base_url: log.base_url,
        key_id: decode(&format!("{what}.logId.keyId"), &log.log_id.key_id)?,
        key,
        hash,
        valid: validity(&what, &log.public_key.valid_for)?,
    })
}

fn decode(what: &str, text: &str) -> Result<Vec<u8>, TrustError> {
    STANDARD
        .decode(text)
        .map_err(|source| TrustError::base64(format!("the trusted root's {what}"), source))
}

fn validity(what: &str, valid_for: &ValidForJson) -> Result<Validity, TrustError> {
    let parse = |text: &str| {
        parse_rfc3339(text)
            .ok_or_else(|| root_error(format!("{what}: {text:?} is not an RFC 3339 UTC time")))
    };
    Ok(Validity {
        start: parse(&valid_for.start)?,
        end: valid_for.end.as_deref().map(parse).transpose()?,
    })
}

fn root_error(reason: impl Into<String>) -> TrustError {
    TrustError::TrustedRoot {
        reason: reason.into(),
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`;
/// fractions are dropped.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &rest[1 + digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let d = |c: u8| i64::from(c - b'0');
            let minutes = (d(*h1) * 10 + d(*h2)) * 60 + d(*m1) * 10 + d(*m2);
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `t` (unix seconds) as RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ` (for
/// messages, and the times weld records of a verification).
pub fn format_unix(t: u64) -> String {
    let days = i64::try_from(t / 86_400).unwrap_or(i64::MAX / 2);
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}
