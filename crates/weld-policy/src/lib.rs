//! # weld-policy
//!
//! A tool run by weld can reach exactly what its policy grants. This crate
//! owns that policy: the document (YAML, JSON accepted too), its strict
//! validation, the pure grant and revoke operations, the matching of paths,
//! hosts and ports, environment keys and interface names, and the compiled
//! [`Grant`] a runtime enforces. The document format is specified in
//! `docs/policy.md`; this doc explains the design.
//!
//! ```
//! use weld_policy::{EnvSource, Policy, Scheme};
//!
//! let policy = Policy::parse_yaml(
//!     r#"
//! version: "1.0"
//! permissions:
//!   network:
//!     allow:
//!       - host: "api.github.com"
//! "#,
//! )?;
//! let net = policy.network();
//! assert!(net.check(Scheme::Https, "api.github.com", 443).allowed);
//! assert!(!net.check(Scheme::Https, "api.github.com", 22).allowed);
//! assert!(!net.check_addr("169.254.169.254".parse().unwrap(), 443).allowed);
//!
//! // Grants are pure: a new, validated policy or an error.
//! let wider = policy.grant_env("GITHUB_TOKEN", EnvSource::Secret)?;
//! assert_eq!(wider.revoke_env("GITHUB_TOKEN")?, policy);
//! assert!(Policy::parse_yaml("version: \"1.0\"\nbogus: 1\n").is_err());
//! # Ok::<(), weld_policy::PolicyError>(())
//! ```
//!
//! ## Invariants (written as absences)
//!
//! - It knows nothing of Wasmtime, tokio, MCP or the network: checks take
//!   strings, ports and [`IpAddr`](std::net::IpAddr)s and return a
//!   [`Decision`] naming the rule that decided, for the audit log.
//! - It does not touch the filesystem, except to compile a policy (through
//!   the [`FileSystem`] trait, so tests and fuzzing use a fake): live
//!   ([`Policy::pin`], which resolves `fs://./` URIs against the operator's
//!   base directory and resolves symlinks, and records what each rule
//!   resolved to as [`Pins`]), or pinned ([`Policy::compile_pinned`], which
//!   resolves nothing and checks that every granted path is still what a
//!   person granted).
//! - No `unsafe`, no panics on any input (fuzzed and property-tested).
//! - A [`Policy`] value is always valid: fields are private; the only ways to
//!   make one are parsing, [`Policy::deny_all`] and the grant/revoke
//!   operations, which validate their result the same way ("parse, don't
//!   validate").
//! - Nothing is loosened silently: a rule weld cannot enforce exactly (a deny
//!   inside an allowed directory, a glob, write without read, a policy-mcp
//!   field weld does not support) is an error that names the rule, its line
//!   and column, and the fix.
//!
//! ## Reading documents
//!
//! Both formats are read into one small spanned tree (`tree.rs`) — every
//! value and every key keeps its line and column — and one hand-written
//! decoder (`decode/`) turns that tree into a [`Policy`]. So YAML and JSON
//! get the same messages at exact places, including for errors serde cannot
//! place (a deny rule that conflicts with an allow rule twelve lines up), and
//! unknown fields are refused with a "did you mean".
//! Each rule and field is checked on its own, so [`Policy::parse_all`]
//! reports every error of a document, not only the first.
//!
//! The policy-mcp and Wassette shapes people already have are read with
//! the same meaning (`fs://workspace/**` relative to the base directory,
//! `permissions: {}`, version `"1.1"`, URL-style hosts taken apart into
//! scheme, host and port, a `runtime` section weld's sandbox already
//! satisfies); what weld cannot enforce exactly (a path in a host, a CPU
//! share, capabilities) is refused with the reason and the fix.
//!
//! **The YAML crate: `saphyr-parser`** (0.3), the event parser of the saphyr
//! project (the maintained successor of yaml-rust/yaml-rust2): YAML 1.2,
//! `no_std`, no `unsafe`, two small dependencies, and a span on every event.
//! The alternatives, weighed: `serde_yaml` is unmaintained;
//! `serde_yaml_ng` and `serde_norway` are forks of it over `unsafe-libyaml`
//! (C translated to unsafe Rust) whose errors carry a location but whose
//! values do not; `serde-saphyr` is good (`Spanned<T>`, budgets) but brings
//! a dozen dependencies, would still leave JSON without spans (serde_json
//! has none) and so two sets of messages, and loses spans under the
//! `untagged` enums a `host`-or-`cidr` rule needs; `saphyr` builds a DOM we
//! would only walk. The fuzz finding once reported against saphyr-parser
//! (issue 13, an infinite loop on `{---`) is fixed in 0.3.3, and weld's own fuzz target
//! covers the parser. Anchors, aliases and tags are refused (no alias
//! expansion attack), documents are capped at 1 MiB and 32 levels of nesting.
//!
//! JSON is read by a small RFC 8259 reader (`json.rs`) that keeps positions;
//! a property test checks it accepts exactly what `serde_json` accepts.
//!
//! ## Enforcement model (what a runtime does with a [`Grant`])
//!
//! - **Storage**: each [`StorageGrant`] is a preopen, read-only or
//!   read-write, of a real (symlink-resolved) directory, or a single file.
//!   Deny rules are applied at compile time: a deny covering an allow rule
//!   removes its modes; a deny strictly inside an allowed tree is refused,
//!   because a preopen cannot carve it out.
//! - **Network**: [`NetworkRules::check`] per request (scheme, host, port),
//!   then [`NetworkRules::check_addr`] on the address actually connected to,
//!   with [`BUILT_IN_DENIES`] (metadata, link-local, loopback and private
//!   ranges unless allowed by IP).
//! - **Environment**: only the listed keys, from the host or the secret store.
//! - **Interfaces**: [`Interfaces::check`] on each import at load time.
//! - **Limits**: [`Limits`]; unset fields keep the runtime's defaults.

#![forbid(unsafe_code)]

mod change;
mod compile;
mod decode;
mod emit;
mod env;
mod error;
mod fuzz;
mod interfaces;
mod json;
mod limits;
mod network;
mod pin;
mod policy;
mod storage;
mod tree;
mod yaml;

pub use compile::{FileSystem, Grant, PathKind, Probe, RealFileSystem, StorageGrant};
pub use decode::MAX_DESCRIPTION_CHARS;
pub use env::{EnvKey, EnvRule, EnvSource};
pub use error::{ErrorKind, Location, PolicyError};
#[doc(hidden)]
pub use fuzz::{check_policy, fuzz_check};
pub use interfaces::{InterfacePattern, Interfaces};
pub use limits::{
    ByteSize, Concurrency, Excess, Limits, MAX_BYTES, MAX_TIMEOUT, MIN_MEMORY, format_duration,
    parse_duration,
};
pub use network::{
    BUILT_IN_DENIES, BuiltInDeny, Cidr, Decision, HostPattern, NetTarget, NetworkAllow,
    NetworkDeny, NetworkGrant, NetworkRules, RuleRef, Scheme, built_in_deny,
};
pub use pin::{Identity, Pin, Pinned, Pins};
pub use policy::Policy;
pub use storage::{Access, AccessSet, Shape, StorageAllow, StorageDeny, StorageRules, StorageUri};
pub use tree::{MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_LIST_ITEMS};
