//! Host bindings of the wasmcp world (`wit/host.wit`), generated at build
//! time from the vendored WIT: the exported capability interfaces weld
//! calls and the `server-io` interface it provides.

wasmtime::component::bindgen!({
    world: "wasmcp-v20251125",
    path: "wit",
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
    },
});
