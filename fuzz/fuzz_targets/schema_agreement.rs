//! Builds a component type and a near-value of it from arbitrary bytes and
//! checks that the JSON Schema weld advertises (judged by the independent
//! `jsonschema` crate) and the conversion agree, that values round-trip,
//! and that the predicted schema size is exact. The oracle is
//! `weld_schema::fuzz_schema`, which `cargo test -p weld-schema` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weld_schema::fuzz_schema(data, &weld_fuzz::validates);
});
