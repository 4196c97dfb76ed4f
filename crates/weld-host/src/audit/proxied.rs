//! The audit record of a proxied call (see [`crate::proxied`]): the shape
//! of a plain tool's, with what the server's instance cannot tell per
//! call (its memory, its output bytes) left at zero.

use std::time::{Duration, UNIX_EPOCH};

use super::record::{AuditRecord, NetworkDecision, StorageDenial, rfc3339};
use crate::proxied::ProxiedRecord;

impl ProxiedRecord {
    /// The record as written.
    pub(super) fn to_record(&self) -> AuditRecord {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let usage = &self.usage;
        AuditRecord {
            time: rfc3339(self.at.duration_since(UNIX_EPOCH).unwrap_or_default()),
            tool: self.tool.clone(),
            component: self.component.name.clone(),
            digest: self.component.digest.clone(),
            client: self.client.clone(),
            args_bytes: self.args_bytes,
            queued_us: micros(self.queued),
            load_us: 0,
            duration_us: micros(self.duration),
            // The instance's memory and output are shared by every request
            // it serves: none of it is one call's.
            peak_memory: 0,
            fuel_used: None,
            stdout_bytes: 0,
            stderr_bytes: 0,
            outcome: self.outcome.as_str().to_string(),
            error: self.error.clone(),
            network: usage
                .network
                .iter()
                .map(|e| NetworkDecision {
                    kind: e.kind.as_str().to_string(),
                    host: e.host.clone(),
                    port: e.port,
                    addr: e.addr.map(|a| a.to_string()),
                    allowed: e.allowed,
                    rule: e.rule.clone(),
                })
                .collect(),
            network_dropped: usage.network_dropped,
            storage_denied: usage
                .storage_denied
                .iter()
                .map(|d| StorageDenial {
                    op: d.op.to_string(),
                    path: d.path.clone(),
                    error: d.error.to_string(),
                })
                .collect(),
            storage_denied_dropped: usage.storage_denied_dropped,
            change: None,
            // A tool call: the tool names what it was about.
            target: None,
            records_lost: 0,
            // Stamped by the writer.
            replica: None,
        }
    }
}
