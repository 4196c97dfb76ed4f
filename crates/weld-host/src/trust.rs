//! The trust policy: whose signatures weld accepts for which sources, and
//! which sources a person let in unsigned.
//!
//! The rule, strict by construction:
//!
//! - A local file needs no signature: a person chose it by its path.
//! - An `oci://` or `https://` source needs a signature from a signer of a
//!   rule whose scope covers it. The signers of every covering rule are
//!   accepted (a source under two publishers' scopes may be signed by
//!   either).
//! - An unsigned source is let in only through an explicit opt-out whose
//!   scope covers it — and only when no signer rule covers it: a scope
//!   with trusted signers always requires their signature, so an opt-out
//!   can never weaken a publisher's rule.
//!
//! A scope covers a source when it is the source, or a prefix of it that
//! ends at a boundary (`/`, `:` or `@`, or a scope ending in `/`):
//! `oci://reg/tools` covers `oci://reg/tools:1` and `oci://reg/tools/x`,
//! never `oci://reg/toolsmith`.

use weld_trust::TrustedSigner;

/// A source prefix a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// A scope of `text`, which must name an `oci://` or `https://`
    /// location (a registry at least, or a host).
    ///
    /// # Errors
    ///
    /// When it names neither.
    pub fn new(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("oci://")
            .or_else(|| text.strip_prefix("https://"))
            .ok_or_else(|| {
                format!("scope `{text}` must start with oci:// or https:// (local files need no signature)")
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("scope `{text}` names no registry or host"));
        }
        Ok(Self(text.to_string()))
    }

    /// Whether this scope covers `source`.
    pub fn covers(&self, source: &str) -> bool {
        let scope = self.0.as_str();
        match source.strip_prefix(scope) {
            None => false,
            Some("") => true,
            Some(rest) => scope.ends_with('/') || rest.starts_with(['/', ':', '@']),
        }
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signer a rule accepts, with the name people know it by.
#[derive(Clone)]
pub struct NamedSigner {
    /// How the configuration names it (a key file, an identity).
    pub label: String,
    /// The key or identity.
    pub signer: TrustedSigner,
}

/// The whole trust policy.
#[derive(Clone, Default)]
pub struct TrustPolicy {
    rules: Vec<(Scope, Vec<NamedSigner>)>,
    unsigned: Vec<Scope>,
}

/// What a source needs before its bytes are fetched.
pub enum Requirement<'a> {
    /// A signature from one of these.
    Signed(Vec<&'a NamedSigner>),
    /// Nothing: the person opted out for this scope.
    Unsigned(&'a Scope),
    /// A signature, and no signer is trusted for it: refused.
    NoSigner,
}

impl TrustPolicy {
    /// Trusts `signers` for sources under `scope`.
    pub fn trust(&mut self, scope: Scope, signers: Vec<NamedSigner>) {
        self.rules.push((scope, signers));
    }

    /// Lets sources under `scope` in unsigned (where no signer rule covers
    /// them).
    pub fn allow_unsigned(&mut self, scope: Scope) {
        self.unsigned.push(scope);
    }

    /// What `source` (an `oci://` or `https://` location) needs.
    pub fn requirement(&self, source: &str) -> Requirement<'_> {
        let signers: Vec<&NamedSigner> = self
            .rules
            .iter()
            .filter(|(scope, _)| scope.covers(source))
            .flat_map(|(_, signers)| signers)
            .collect();
        if !signers.is_empty() {
            return Requirement::Signed(signers);
        }
        if self.rules.iter().any(|(scope, _)| scope.covers(source)) {
            return Requirement::NoSigner;
        }
        match self.unsigned.iter().find(|scope| scope.covers(source)) {
            Some(scope) => Requirement::Unsigned(scope),
            None => Requirement::NoSigner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        Scope::new(text).expect("scope")
    }

    #[test]
    fn a_scope_covers_its_source_only_at_a_boundary() {
        let tools = scope("oci://reg:5000/tools");
        assert!(tools.covers("oci://reg:5000/tools"));
        assert!(tools.covers("oci://reg:5000/tools:1.0"));
        assert!(tools.covers("oci://reg:5000/tools@sha256:00"));
        assert!(tools.covers("oci://reg:5000/tools/fetch:1"));
        assert!(!tools.covers("oci://reg:5000/toolsmith:1"));
        assert!(!tools.covers("oci://reg:5000/tool"));
        assert!(scope("https://example.org/").covers("https://example.org/x.wasm"));
        assert!(!scope("https://example.org").covers("https://example.org.evil/x.wasm"));
    }

    #[test]
    fn scopes_must_name_a_remote_place() {
        assert!(Scope::new("/home/me/tools").is_err());
        assert!(Scope::new("oci://").is_err());
        assert!(Scope::new("http://example.org/").is_err());
    }

    #[test]
    fn an_unsigned_opt_out_never_weakens_a_signer_rule() {
        let key = weld_trust::SigningKey::generate()
            .expect("key")
            .public_key();
        let mut policy = TrustPolicy::default();
        policy.trust(
            scope("oci://reg/"),
            vec![NamedSigner {
                label: "k".into(),
                signer: TrustedSigner::Key(key),
            }],
        );
        policy.allow_unsigned(scope("oci://reg/dev/"));
        policy.allow_unsigned(scope("oci://other/dev/"));
        assert!(matches!(
            policy.requirement("oci://reg/dev/x:1"),
            Requirement::Signed(s) if s.len() == 1
        ));
        assert!(matches!(
            policy.requirement("oci://other/dev/x:1"),
            Requirement::Unsigned(_)
        ));
        assert!(matches!(
            policy.requirement("oci://other/prod/x:1"),
            Requirement::NoSigner
        ));
    }
}
