//! The store data of one call, and the views of it that WASI and weld's
//! shadows are written against.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::wasi::ConfigView;
use crate::wasi::files::{GatedDirs, GatedFsView};
use crate::wasi::net::{NetHooks, NetView};

/// The store's data for one call.
pub(crate) struct CallState {
    pub(super) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(super) memory: MemoryLimiter,
    pub(super) http: WasiHttpCtx,
    pub(super) net: NetHooks,
    pub(super) files: GatedDirs,
    /// The granted environment variables, shared with the sandbox.
    pub(super) config: Arc<[(String, String)]>,
}

impl CallState {
    /// Where the instance's file denials are recorded (see
    /// `crate::command`, which takes them while the instance runs).
    pub(crate) fn denial_log(&self) -> crate::wasi::files::DenialLog {
        self.files.denial_log()
    }

    /// Whether a memory growth was refused (a trap that follows is the
    /// guest running out of memory).
    pub(crate) fn memory_refused(&self) -> bool {
        self.memory.refused
    }
}

impl ConfigView for CallState {
    fn config(&self) -> &Arc<[(String, String)]> {
        &self.config
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}

impl GatedFsView for CallState {
    fn gated(&mut self) -> &mut GatedDirs {
        &mut self.files
    }
}

impl NetView for CallState {
    fn net(&mut self) -> &mut NetHooks {
        &mut self.net
    }
}

/// Caps the sum of all linear memories of one instance and remembers the peak.
pub(crate) struct MemoryLimiter {
    limit: u64,
    current: u64,
    pub(super) peak: u64,
    /// Whether a growth was refused: a trap that follows is reported as
    /// running out of memory.
    pub(super) refused: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes in all.
    pub(super) fn new(limit: u64) -> Self {
        Self {
            limit,
            current: 0,
            peak: 0,
            refused: false,
        }
    }
}

/// Table elements one instance may hold; generous for real toolchains, small
/// enough that a table cannot be the memory bomb a linear memory may not be.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current) as u64;
        let next = self.current.saturating_add(grow);
        if next > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.current = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
