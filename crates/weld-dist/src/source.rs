//! Where a tool comes from: `Source` (`oci://`, `https://`, a path) and
//! `OciReference`, parsed against the OCI distribution grammar.
//!
//! Parsing is strict because these strings become URLs, tags and (later)
//! paths: a repository, tag or digest outside the grammar is refused, never
//! escaped or normalised. Only `sha256` digests are accepted, the one
//! algorithm weld's store addresses blobs by.

use std::fmt;
use std::path::PathBuf;

use crate::DistError;

/// Where to fetch a component from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An artifact in an OCI registry.
    Oci(OciReference),
    /// A file on an HTTPS server.
    Https(url::Url),
    /// A local file.
    File(PathBuf),
}

impl Source {
    /// Parses `oci://REGISTRY/REPO:TAG`, `oci://REGISTRY/REPO@sha256:…`,
    /// `oci://REGISTRY/REPO:TAG@sha256:…`, `https://…`; anything without a
    /// `scheme://` prefix is a path. `http://` is refused: anyone on the path
    /// could change the bytes.
    pub fn parse(text: &str) -> Result<Source, DistError> {
        let invalid = |reason: &str| DistError::InvalidSource {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, _)) = text.split_once("://") else {
            if text.is_empty() {
                return Err(invalid("it is empty; give a path, oci://… or https://…"));
            }
            return Ok(Source::File(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "oci" => OciReference::parse(text).map(Source::Oci),
            "https" => {
                let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("an https:// URL needs a host"));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(invalid(
                        "credentials in the URL would be stored and shown; remove `user:password@`",
                    ));
                }
                Ok(Source::Https(url))
            }
            "http" => Err(invalid(
                "plain http:// can be read and changed by anyone on the path; use https://, \
                 or download the file and give its path",
            )),
            _ => Err(invalid(
                "unknown scheme; weld installs from oci://REGISTRY/REPO:TAG, https://… or a path",
            )),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Oci(reference) => reference.fmt(f),
            Source::Https(url) => f.write_str(url.as_str()),
            Source::File(path) => path.display().fmt(f),
        }
    }
}

/// `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]`, at least one of tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// `host[:port]`, e.g. `ghcr.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// The repository path, e.g. `org/tool`.
    pub repository: String,
    /// A tag, e.g. `1.0.0`.
    pub tag: Option<String>,
    /// A manifest digest, `sha256:` and 64 lowercase hex digits.
    pub digest: Option<String>,
}

impl OciReference {
    /// Parses `oci://…` (the prefix is required).
    pub fn parse(text: &str) -> Result<OciReference, DistError> {
        let invalid = |reason: String| DistError::InvalidSource {
            text: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| invalid("an OCI reference starts with oci://".into()))?;
        let (registry, rest) = rest
            .split_once('/')
            .ok_or_else(|| invalid("expected oci://REGISTRY/REPOSITORY:TAG".into()))?;
        check_registry(registry).map_err(invalid)?;
        let (name_tag, digest) = match rest.split_once('@') {
            Some((name_tag, digest)) => (name_tag, Some(digest)),
            None => (rest, None),
        };
        let (repository, tag) = match name_tag.rsplit_once(':') {
            Some((repository, tag)) => (repository, Some(tag)),
            None => (name_tag, None),
        };
        check_repository(repository).map_err(invalid)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
        if let Some(digest) = digest {
            check_digest(digest).map_err(invalid)?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(invalid(
                "name a tag (`:1.0.0`) or a digest (`@sha256:…`); weld does not guess `latest`"
                    .into(),
            ));
        }
        Ok(OciReference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The same reference pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> Self {
        OciReference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// Checks every part against the grammar; for references built by hand.
    pub fn validate(&self) -> Result<(), DistError> {
        let invalid = |reason: String| DistError::InvalidSource {
            text: self.to_string(),
            reason,
        };
        check_registry(&self.registry).map_err(invalid)?;
        check_repository(&self.repository).map_err(invalid)?;
        if let Some(tag) = &self.tag {
            check_tag(tag).map_err(invalid)?;
        }
        if let Some(digest) = &self.digest {
            check_digest(digest).map_err(invalid)?;
        }
        Ok(())
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `host[:port]`: DNS labels or an IPv4 address, or a bracketed IPv6
/// address, and an optional decimal port.
fn check_registry(registry: &str) -> Result<(), String> {
    let bad = || format!("`{registry}` is not a registry host[:port]");
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(bad());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad());
    }
    if let Some(port) = port
        && (port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(bad());
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
fn check_repository(repository: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{repository}` is not a repository name (lowercase letters and digits, \
             separated by `.`, `_`, `__`, `-` or `/`)"
        )
    };
    if repository.is_empty() || repository.len() > 255 {
        return Err(bad());
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
            return Err(bad());
        };
        if !alnum(first) || !alnum(last) {
            return Err(bad());
        }
        let mut i = 0;
        while i < bytes.len() {
            if alnum(bytes[i]) {
                i += 1;
                continue;
            }
            // A separator run: `.`, `_`, `__` or one or more `-`.
            let start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let separator = &component[start..i];
            let allowed =
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
            if !allowed {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
fn check_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let ok = match bytes.first() {
        Some(&first) => {
            bytes.len() <= 128
                && (first.is_ascii_alphanumeric() || first == b'_')
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
        ))
    }
}

/// `sha256:` followed by exactly 64 lowercase hex digits.
pub(crate) fn check_digest(digest: &str) -> Result<(), String> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{digest}` is not a digest weld accepts (sha256: and 64 lowercase hex digits)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn every_accepted_oci_form_parses_and_displays_as_written() {
        for text in [
            "oci://ghcr.io/org/tool:1.0.0".to_owned(),
            format!("oci://127.0.0.1:5000/a/b-c__d.e@{D}"),
            format!("oci://[::1]:5000/tool:v1@{D}"),
            "oci://localhost/x:_t".to_owned(),
        ] {
            let source = Source::parse(&text).unwrap();
            assert_eq!(source.to_string(), text);
            let Source::Oci(reference) = source else {
                panic!("not oci: {text}")
            };
            reference.validate().unwrap();
        }
    }

    #[test]
    fn references_outside_the_grammar_are_refused() {
        for text in [
            "oci://ghcr.io/org/tool",
            "oci://ghcr.io/Org/tool:1",
            "oci://ghcr.io/org//tool:1",
            "oci://ghcr.io/org/tool-:1",
            "oci://ghcr.io/org/a...b:1",
            "oci://ghcr.io/org/tool:.hidden",
            "oci://ghcr.io/org/tool:a/b",
            "oci://ghcr.io/org/tool@sha256:ABC",
            "oci://ghcr.io/org/tool@sha512:00",
            "oci://ghcr.io/../x:1",
            "oci://gh cr.io/x:1",
            "oci://host:99999/x:1",
            "oci://host:/x:1",
            "oci:///x:1",
            "oci://ghcr.io",
        ] {
            assert!(
                matches!(Source::parse(text), Err(DistError::InvalidSource { .. })),
                "accepted {text}"
            );
        }
        let long_tag = format!("oci://r/x:{}", "a".repeat(129));
        assert!(Source::parse(&long_tag).is_err());
    }

    #[test]
    fn plain_http_is_refused_with_the_reason() {
        let err = Source::parse("http://example.com/tool.wasm").unwrap_err();
        assert!(err.to_string().contains("use https://"), "{err}");
    }

    #[test]
    fn https_urls_and_paths_are_kept() {
        let Source::Https(url) = Source::parse("https://example.com/t.wasm").unwrap() else {
            panic!("not https")
        };
        assert_eq!(url.host_str(), Some("example.com"));
        assert_eq!(
            Source::parse("./tool.wasm").unwrap(),
            Source::File(PathBuf::from("./tool.wasm"))
        );
        assert!(Source::parse("https://u:p@example.com/t.wasm").is_err());
        assert!(Source::parse("ftp://example.com/t.wasm").is_err());
    }

    #[test]
    fn with_digest_pins_and_keeps_the_tag() {
        let reference = OciReference::parse("oci://r.io/x:1").unwrap();
        assert_eq!(
            reference.with_digest(D).to_string(),
            format!("oci://r.io/x:1@{D}")
        );
    }

    proptest::proptest! {
        #[test]
        fn display_of_a_parsed_reference_parses_back_to_it(text in "oci://[a-z0-9.:-]{1,12}/[a-z0-9._/-]{1,16}(:[A-Za-z0-9_.-]{1,8})?") {
            if let Ok(reference) = OciReference::parse(&text) {
                proptest::prop_assert_eq!(OciReference::parse(&reference.to_string()).unwrap(), reference);
            }
        }
    }
}
