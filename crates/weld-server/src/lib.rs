//! weld's MCP surface: the tools of loaded components, served over stdio and
//! Streamable HTTP with rmcp.
//!
//! This is the only crate that knows the MCP wire types. It turns component
//! exports into MCP tools ([`catalog`]), handles requests ([`handler`]) and
//! runs the transports ([`transport`] for stdio, [`http_transport`]).
//! Loading components from the state directory is [`load`]'s job; changing
//! their policies [`manage`]'s (for the CLI and for the built-in MCP tools
//! of [`builtin`]).

pub mod audit;
pub mod builtin;
pub mod catalog;
#[doc(hidden)]
pub mod fuzz;
pub mod handler;
pub mod http_transport;
mod jsonrpc;
mod line_cap;
pub mod load;
pub mod manage;
pub mod pins;
pub mod sandbox;
mod stdio;
pub mod transport;

pub use audit::{Audit, AuditFailure, AuditRecord};
pub use builtin::{BuiltinOptions, Management};
pub use catalog::{Catalog, ComponentEntry, Disabled, Registry, ToolEntry, tool_name};
pub use handler::{ServerOptions, WeldServer};
pub use http_transport::{HttpLimits, HttpOptions, serve_http};
pub use transport::{TransportError, serve_stdio};
