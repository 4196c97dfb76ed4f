//! The HTTP layer shared by registries and HTTPS downloads: one way to build a
//! client (rustls + ring, timeouts, a redirect policy that never downgrades to
//! plain HTTP), one way to turn a status into a `DistError`, and the two
//! capped readers (into memory, or streamed into a temporary file while
//! hashing).

use std::path::Path;
use std::sync::Arc;

use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::{Config, DistError, Downloaded, Progress};

/// Installs rustls' ring provider as the process default, so that reqwest
/// (built with `rustls-no-provider`) never reaches for aws-lc. Another crate
/// having installed one first is fine.
pub(crate) fn install_ring() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Which `host:port`s may be reached (and redirected to) over plain HTTP.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlainHttp(pub(crate) Arc<Vec<String>>);

impl PlainHttp {
    pub(crate) fn allows(&self, url: &url::Url) -> bool {
        url.scheme() == "https"
            || (url.scheme() == "http" && self.0.iter().any(|allowed| *allowed == authority(url)))
    }
}

/// `host[:port]` as a registry is written (`[::1]:5000`, `127.0.0.1:5000`).
pub(crate) fn authority(url: &url::Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(v6)) => format!("[{v6}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// A client with `config.timeout` for connecting and for each read, that
/// follows at most 10 redirects and only to URLs `plain_http` allows.
pub(crate) fn client(config: &Config, plain_http: PlainHttp) -> Result<reqwest::Client, DistError> {
    install_ring();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if plain_http.allows(attempt.url()) {
            attempt.follow()
        } else {
            let refused = format!(
                "redirect to {} refused: only https:// is followed",
                attempt.url()
            );
            attempt.error(refused)
        }
    });
    reqwest::Client::builder()
        .connect_timeout(config.timeout)
        .read_timeout(config.timeout)
        .redirect(policy)
        .user_agent(concat!("weld/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(DistError::Client)
}

/// Returns the response if it is a success; otherwise the error its status
/// means. `auth_hint` says how to supply credentials to this target.
pub(crate) async fn check_status(
    response: reqwest::Response,
    target: &str,
    what: &str,
    auth_hint: &str,
) -> Result<reqwest::Response, DistError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    match status.as_u16() {
        401 | 403 => Err(DistError::Auth {
            target: target.to_owned(),
            status: status.as_u16(),
            hint: auth_hint.to_owned(),
        }),
        404 => Err(DistError::NotFound {
            target: target.to_owned(),
            what: what.to_owned(),
        }),
        code => {
            // The start of the body only: it is for a person, and the server
            // decides how long it is.
            let body = read_prefix(response, 512).await;
            let message = crate::error::printable(&String::from_utf8_lossy(&body));
            Err(DistError::Status {
                target: target.to_owned(),
                status: code,
                action: format!("a request for {what}"),
                message: if message.is_empty() {
                    "no details".into()
                } else {
                    message
                },
            })
        }
    }
}

/// The first `max` bytes of a body (or fewer), for an error message.
async fn read_prefix(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            _ => break,
        }
    }
    body
}

/// Reads the whole body into memory, refusing more than `limit` bytes (a
/// declared length over it before reading anything).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    target: &str,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, DistError> {
    if let Some(declared) = response.content_length()
        && declared > limit
    {
        return Err(DistError::too_large(target, what, declared, limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| DistError::transport(target, e))?
    {
        let size = (body.len() + chunk.len()) as u64;
        if size > limit {
            return Err(DistError::too_large(target, what, size, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a streamed download must be.
pub(crate) struct Expect<'a> {
    pub(crate) target: &'a str,
    pub(crate) what: &'a str,
    /// Refuse more bytes than this.
    pub(crate) limit: u64,
    /// The exact size, when a manifest declared it.
    pub(crate) size: Option<u64>,
    /// The digest the bytes must hash to, when known.
    pub(crate) digest: Option<&'a str>,
}

/// Streams the body into a new temporary file in `dir`, hashing as it goes;
/// checks size and digest, fsyncs, and keeps the file. On any error the
/// temporary file is removed (it is deleted when dropped).
pub(crate) async fn stream_to_file(
    mut response: reqwest::Response,
    expect: &Expect<'_>,
    dir: &Path,
    progress: Option<&Arc<dyn Fn(Progress) + Send + Sync>>,
) -> Result<Downloaded, DistError> {
    let Expect {
        target,
        what,
        limit,
        size,
        digest,
    } = *expect;
    let declared = response.content_length();
    if let Some(declared) = declared
        && declared > limit
    {
        return Err(DistError::too_large(target, what, declared, limit));
    }
    if let (Some(declared), Some(size)) = (declared, size)
        && declared != size
    {
        return Err(DistError::malformed(
            target,
            format!("{what} is declared as {size} bytes but served as {declared}"),
        ));
    }
    let io = |action: &'static str| {
        move |source| DistError::Io {
            action,
            path: dir.to_owned(),
            source,
        }
    };
    let temp = tempfile::Builder::new()
        .prefix(".weld-download-")
        .tempfile_in(dir)
        .map_err(io("cannot create a temporary file in"))?;
    let std_file = temp
        .as_file()
        .try_clone()
        .map_err(io("cannot write a temporary file in"))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = sha2::Sha256::new();
    let total = size.or(declared);
    let mut done: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| DistError::transport(target, e))?
    {
        done += chunk.len() as u64;
        if done > limit {
            return Err(DistError::too_large(target, what, done, limit));
        }
        if let Some(size) = size
            && done > size
        {
            return Err(DistError::malformed(
                target,
                format!("{what} is longer than the {size} bytes its manifest declares"),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(io("cannot write a temporary file in"))?;
        if let Some(progress) = progress {
            progress(Progress {
                what: what.to_owned(),
                done,
                total,
            });
        }
    }
    if let Some(size) = size
        && done != size
    {
        return Err(DistError::malformed(
            target,
            format!("{what} ended after {done} of the {size} bytes its manifest declares"),
        ));
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if let Some(expected) = digest
        && expected != actual
    {
        return Err(DistError::DigestMismatch {
            target: target.to_owned(),
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    file.flush()
        .await
        .map_err(io("cannot write a temporary file in"))?;
    file.sync_all()
        .await
        .map_err(io("cannot sync a temporary file in"))?;
    drop(file);
    let (_file, path) = temp.keep().map_err(|e| DistError::Io {
        action: "cannot keep a temporary file in",
        path: dir.to_owned(),
        source: e.error,
    })?;
    Ok(Downloaded {
        path,
        digest: actual,
        size: done,
    })
}

const HTTPS_AUTH_HINT: &str = "the server wants credentials, and weld sends none to https:// sources; download the file and give its path";

/// Downloads `url` (https only) into a temporary file in `dir`, at most
/// `config.max_component_bytes`, and returns it with its digest.
pub async fn fetch_https(
    url: &url::Url,
    config: &Config,
    dir: &Path,
) -> Result<Downloaded, DistError> {
    fetch_https_with(url, config, dir, PlainHttp::default()).await
}

/// Downloads a small file (a detached signature or bundle) into memory, at
/// most `max` bytes.
pub async fn fetch_https_small(
    url: &url::Url,
    config: &Config,
    max: u64,
) -> Result<Vec<u8>, DistError> {
    fetch_https_small_with(url, config, max, PlainHttp::default()).await
}

async fn get_https(
    url: &url::Url,
    config: &Config,
    plain_http: PlainHttp,
) -> Result<reqwest::Response, DistError> {
    if !plain_http.allows(url) {
        return Err(DistError::InvalidSource {
            text: url.to_string(),
            reason: "only https:// is downloaded".into(),
        });
    }
    let target = url.as_str();
    let response = client(config, plain_http)?
        .get(url.clone())
        .send()
        .await
        .map_err(|e| DistError::transport(target, e))?;
    check_status(response, target, "file", HTTPS_AUTH_HINT).await
}

/// `fetch_https` with the plain-HTTP allowance made a parameter, so that unit
/// tests can serve from loopback; the public function always passes none.
pub(crate) async fn fetch_https_with(
    url: &url::Url,
    config: &Config,
    dir: &Path,
    plain_http: PlainHttp,
) -> Result<Downloaded, DistError> {
    let response = get_https(url, config, plain_http).await?;
    let expect = Expect {
        target: url.as_str(),
        what: "the download",
        limit: config.max_component_bytes,
        size: None,
        digest: None,
    };
    stream_to_file(response, &expect, dir, config.progress.as_ref()).await
}

pub(crate) async fn fetch_https_small_with(
    url: &url::Url,
    config: &Config,
    max: u64,
    plain_http: PlainHttp,
) -> Result<Vec<u8>, DistError> {
    let response = get_https(url, config, plain_http).await?;
    read_capped(response, url.as_str(), "the download", max).await
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
