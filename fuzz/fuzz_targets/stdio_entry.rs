//! Feeds arbitrary bytes to weld's stdio entry: the bounded line reader, the
//! JSON-RPC check and a whole rmcp session with weld's handler. The oracle is
//! `weld_mcp::fuzz::fuzz_stdio`, which `cargo test -p weld-mcp` runs
//! too over the seeds in `fuzz/seeds/stdio_entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weld_mcp::fuzz::fuzz_stdio(data);
});
