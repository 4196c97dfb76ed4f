//! weld's integration tests, linked into one binary: each test file used to be
//! its own executable, and every one of them embedded Wasmtime, which cost
//! link time and gigabytes of disk per build.

mod architecture;
mod capacity;
mod cli;
mod common;
mod concurrency;
mod fuel;
mod http;
mod manage;
mod mcp;
mod network;
mod reload;
mod sandbox;
