//! weld's integration tests, linked into one binary: each test file used to be
//! its own executable, and every one of them embedded Wasmtime, which cost
//! link time and gigabytes of disk per build.

// The audit tests limit a child's file size (setrlimit before exec,
// prlimit after): libc calls with no safe wrapper here.
#![allow(
    unsafe_code,
    reason = "resource limits on child processes in the audit tests"
)]

mod architecture;
mod audit;
mod capacity;
mod cli;
mod common;
mod compile_limits;
mod concurrency;
mod conformance;
mod deploy;
mod distribution;
mod foreign;
mod fuel;
mod grants;
mod http;
mod http_limits;
mod https;
mod incremental;
mod inspect;
mod languages;
mod manage;
mod mcp;
mod mcp_world;
mod metrics;
mod network;
mod notes;
mod otel;
mod policy_compat;
mod proxied;
mod registry;
mod reload;
mod replicas;
mod sandbox;
mod scale;
mod schema_caps;
mod state_trust;
mod stdio;
mod tamper;
