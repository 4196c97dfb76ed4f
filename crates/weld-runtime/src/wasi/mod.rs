//! What a guest reaches through WASI: Wasmtime's implementation, with weld's
//! shadows over the functions whose decision Wasmtime cannot make the way a
//! policy needs (single files, name lookups), the HTTP sender that checks
//! every address, the capped output streams, and `wasi:config/store`
//! (the granted environment variables, see `config`).
//!
//! Only the code here decides what a guest reaches. It is written against
//! view traits ([`GatedFsView`], [`NetView`]), in the manner of
//! wasmtime-wasi's `WasiView`, never against the call's store data: `call/`
//! implements them, and nothing here knows how a call is put together.

pub(crate) mod config;
pub(crate) mod files;
pub(crate) mod net;
pub(crate) mod output;
mod shadow;

use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpView;

pub(crate) use config::ConfigView;
pub(crate) use files::{GatedFsView, gate_single_files};
pub(crate) use net::{NetView, gate_name_lookups};

/// Everything a call's store data must offer for [`add_to_linker`].
pub(crate) trait CallView: GatedFsView + NetView + WasiHttpView + ConfigView {}

impl<T: GatedFsView + NetView + WasiHttpView + ConfigView> CallView for T {}

/// Adds WASI 0.2, `wasi:http` and `wasi:config/store` to `linker`, then
/// weld's shadows over them.
///
/// # Errors
///
/// When Wasmtime refuses a definition, or a shadow would replace a function
/// this Wasmtime does not define (see `shadow::ensure_defined`).
pub(crate) fn add_to_linker<T: CallView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    config::add_to_linker(linker)?;
    gate_name_lookups(linker)?;
    gate_single_files(linker)
}
