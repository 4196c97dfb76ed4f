//! Feeds arbitrary bytes to `Policy::parse` and, when they parse, checks the
//! YAML and JSON round trips and the consistency of the checks. The oracle is
//! `weld_policy::fuzz_check`, which `cargo test -p weld-policy` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weld_policy::fuzz_check(data);
});
