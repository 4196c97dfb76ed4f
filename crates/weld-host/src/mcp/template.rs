//! Which URIs a resource template names: RFC 6570 templates read once, at
//! load, into literal parts and variables, so a `resources/read` matches a
//! URI against them without parsing anything.
//!
//! A match decides only which components are asked (in load order); the
//! component still answers `none` for a URI it does not serve. So the
//! matcher may be generous, never strict: a simple variable (`{id}`)
//! matches one or more characters up to the next `/`, `?` or `#`; a
//! reserved or fragment one (`{+path}`, `{#frag}`) anything; a query
//! expansion (`{?q}`, `{&q}`) anything, including nothing; every other
//! operator (`{.x}`, `{/x}`, `{;x}`) anything.

/// A template, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// One or more characters other than `/`, `?`, `#`.
    Segment,
    /// Any characters, at least one.
    Any,
    /// Any characters, possibly none.
    Optional,
}

impl UriTemplate {
    /// Reads `template`; `None` when an expression is never closed.
    pub(crate) fn parse(template: &str) -> Option<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..].find('}')? + open;
            let expression = &rest[open + 1..close];
            parts.push(match expression.chars().next() {
                Some('+' | '#' | '.' | '/' | ';') => Part::Any,
                Some('?' | '&') => Part::Optional,
                _ => Part::Segment,
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Some(Self { parts })
    }

    /// Whether `uri` is one of the template's. Linear in the URI's length
    /// for each part (the positions reachable after each part, as a set),
    /// so no URI makes a match slow.
    pub(crate) fn matches(&self, uri: &str) -> bool {
        let bytes = uri.as_bytes();
        let n = bytes.len();
        let mut reach = vec![false; n + 1];
        reach[0] = true;
        for part in &self.parts {
            let mut next = vec![false; n + 1];
            match part {
                Part::Literal(literal) => {
                    for p in (0..=n).filter(|&p| reach[p]) {
                        if bytes[p..].starts_with(literal.as_bytes()) {
                            next[p + literal.len()] = true;
                        }
                    }
                }
                Part::Segment => {
                    // From each reachable p, every end in p+1 ..= the next
                    // `/`, `?` or `#` (or the end). Right to left, ranges
                    // up to one stop nest, so each end is set once.
                    let mut stop = n;
                    let mut filled_from = usize::MAX;
                    for p in (0..=n).rev() {
                        if p < n && matches!(bytes[p], b'/' | b'?' | b'#') {
                            stop = p;
                            filled_from = usize::MAX;
                        }
                        if reach[p] && p < stop {
                            for q in next.iter_mut().take(filled_from.min(stop + 1)).skip(p + 1) {
                                *q = true;
                            }
                            filled_from = p + 1;
                        }
                    }
                }
                Part::Any | Part::Optional => {
                    let skip = usize::from(matches!(part, Part::Any));
                    if let Some(first) = (0..=n).find(|&p| reach[p]) {
                        for q in next.iter_mut().skip(first + skip) {
                            *q = true;
                        }
                    }
                }
            }
            reach = next;
        }
        reach[n]
    }
}

#[cfg(test)]
mod tests {
    use super::UriTemplate;

    fn t(template: &str) -> UriTemplate {
        UriTemplate::parse(template).expect("a template")
    }

    #[test]
    fn a_simple_variable_matches_one_path_segment() {
        let template = t("test://template/{id}/data");
        assert!(template.matches("test://template/123/data"));
        assert!(!template.matches("test://template//data"));
        assert!(!template.matches("test://template/1/2/data"));
        assert!(!template.matches("test://other/1/data"));
    }

    #[test]
    fn reserved_and_query_expressions_match_more() {
        assert!(t("file:///{+path}").matches("file:///a/b/c.txt"));
        assert!(t("notes://search{?q}").matches("notes://search"));
        assert!(t("notes://search{?q}").matches("notes://search?q=x"));
        assert!(t("x://{a}{?b,c}").matches("x://y?b=1&c=2"));
    }

    #[test]
    fn an_unclosed_expression_is_not_a_template() {
        assert_eq!(UriTemplate::parse("x://{id"), None);
    }
}
