//! What a request must look like before rmcp sees it: an origin-form target
//! (`POST /mcp`, never `POST http://other/mcp`), exactly one authority
//! (`Host`, or HTTP/2's `:authority`, agreeing when both are sent) written
//! strictly as `host[:port]`, and at most one `Origin`.
//!
//! rmcp checks the values against the allowed lists; these checks make sure
//! the value it checks is the only one a request carries, and that it parses
//! the same way everywhere (`evil.com@127.0.0.1` is a user name and a host to
//! a URL parser, and a host name to a human reading a log).

use hyper::header::{HOST, HeaderMap, ORIGIN};
use hyper::{Request, StatusCode, Version};

/// A request refused before it reached rmcp: status and explanation.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

const fn bad(reason: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        reason,
    }
}

/// Checks the request target, the authority and `Origin`.
pub(super) fn check<B>(req: &Request<B>) -> Result<(), Refusal> {
    let authority = authority(req)?;
    if !is_host_and_port(authority) {
        return Err(bad(
            "the Host header (or :authority) must be host[:port]: a name or address and an \
             optional port, with no user name, path or spaces\n",
        ));
    }
    if req.headers().get_all(ORIGIN).iter().nth(1).is_some() {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            reason: "the request carries more than one Origin header; send one\n",
        });
    }
    Ok(())
}

/// The one authority the request names.
fn authority<B>(req: &Request<B>) -> Result<&str, Refusal> {
    let host = single_host(req.headers())?;
    let uri = req.uri();
    if req.version() >= Version::HTTP_2 {
        // HTTP/2 names the authority in `:authority`, which hyper puts in the
        // URI; a `Host` header beside it must say the same (RFC 9113 §8.3.1).
        return match (uri.authority().map(|a| a.as_str()), host) {
            (Some(authority), Some(host)) if authority != host => Err(bad(
                "the Host header and :authority name different hosts; send one, or the same\n",
            )),
            (Some(authority), _) => Ok(authority),
            (None, Some(host)) => Ok(host),
            (None, None) => Err(bad("the request names no host (:authority or Host)\n")),
        };
    }
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(bad(
            "weld accepts only origin-form request targets (POST /mcp), not absolute URLs or \
             authorities: a request naming another host is not weld's to serve\n",
        ));
    }
    host.ok_or(bad("the request has no Host header\n"))
}

fn single_host(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(HOST).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(bad(
            "the request carries more than one Host header; send one\n",
        ));
    }
    first
        .map(|value| {
            value
                .to_str()
                .map_err(|_| bad("the Host header is not plain ASCII\n"))
        })
        .transpose()
}

/// `host[:port]` where host is a name (letters, digits, `-`, `.`, `_`,
/// `~`; a dotted IPv4 address is one) or a bracketed IPv6 address, and port
/// is 1 to 5 digits no larger than 65535.
fn is_host_and_port(authority: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (v6.parse::<std::net::Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        (!host.is_empty() && host.bytes().all(is_name_byte), port)
    };
    host_ok && port.is_none_or(is_port)
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::post(target).version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    fn h1(target: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        check(&request(Version::HTTP_11, target, headers))
    }

    #[test]
    fn plain_hosts_and_ports_are_accepted() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost",
            "localhost:1",
            "[::1]",
            "[::1]:65535",
            "weld.example.com",
        ] {
            assert_eq!(h1("/mcp", &[("host", host)]), Ok(()), "{host}");
        }
    }

    #[test]
    fn hosts_with_user_info_paths_spaces_or_bad_ports_are_refused() {
        for host in [
            "evil.com@127.0.0.1",
            "127.0.0.1/mcp",
            "127.0.0.1 :80",
            "127.0.0.1:",
            "127.0.0.1:65536",
            "127.0.0.1:80:80",
            "[::1",
            "[::1]x",
            "[not-v6]",
            "",
            ":80",
            "a%2eb",
        ] {
            let refusal = h1("/mcp", &[("host", host)]).expect_err(host);
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST, "{host}");
        }
    }

    #[test]
    fn a_second_host_or_origin_header_is_refused() {
        let hosts = h1("/mcp", &[("host", "127.0.0.1"), ("host", "evil.com")]);
        assert_eq!(
            hosts.expect_err("two hosts").status,
            StatusCode::BAD_REQUEST
        );
        let origins = h1(
            "/mcp",
            &[
                ("host", "127.0.0.1"),
                ("origin", "http://localhost:1"),
                ("origin", "http://evil.com"),
            ],
        );
        assert_eq!(
            origins.expect_err("two origins").status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn an_absolute_form_target_is_refused_over_http1() {
        let refusal = h1("http://evil.com/mcp", &[("host", "127.0.0.1")]).expect_err("absolute");
        assert!(refusal.reason.contains("origin-form"), "{refusal:?}");
        assert!(h1("/mcp", &[]).is_err(), "HTTP/1.1 needs a Host header");
    }

    #[test]
    fn over_http2_the_authority_is_checked_like_host_and_must_agree_with_it() {
        let h2 = |target: &str, headers: &[(&str, &str)]| {
            check(&request(Version::HTTP_2, target, headers))
        };
        assert_eq!(h2("http://127.0.0.1:80/mcp", &[]), Ok(()));
        assert!(h2("http://evil.com@127.0.0.1/mcp", &[]).is_err());
        assert!(h2("http://127.0.0.1/mcp", &[("host", "evil.com")]).is_err());
        assert_eq!(h2("http://127.0.0.1/mcp", &[("host", "127.0.0.1")]), Ok(()));
        assert_eq!(h2("/mcp", &[("host", "127.0.0.1")]), Ok(()));
        assert!(h2("/mcp", &[]).is_err());
    }
}
