//! Builds a parameter list from the first bytes and reads the rest as the
//! JSON text of a `tools/call`'s arguments: conversion must never panic,
//! must accept exactly what the advertised input schema accepts, and what
//! it accepts must convert back to the same arguments. The oracle is
//! `weld_schema::fuzz_arguments`, which `cargo test -p weld-schema` runs
//! too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weld_schema::fuzz_arguments(data, &weld_fuzz::validates);
});
