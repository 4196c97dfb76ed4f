//! Applying a policy change: `weld_revoke` at once, a grant once approved.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};
use weld_host::audit::BuiltinRecord;
use weld_host::outcome::Outcome;
use weld_host::policy_admin::{Direction, PolicyChange};
use weld_policy::Pin;

use super::args::parse_change;
use super::{Management, failed, note, structured};

impl Management {
    pub(super) async fn revoke(
        &self,
        request: &CallToolRequestParams,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let change = match parse_change(request, Direction::Revoke) {
            Ok(change) => change,
            Err(message) => return failed(record, Outcome::InvalidArguments, message),
        };
        note(record, &change, None);
        self.apply(change, None, Outcome::Applied, record).await
    }

    /// Applies `change`; for a storage grant, only if its path still
    /// resolves to `approved`, what the person was shown.
    pub(super) async fn apply(
        &self,
        change: PolicyChange,
        approved: Option<Pin>,
        outcome: Outcome,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let applied = {
            let change = change.clone();
            self.blocking(move |p| p.apply(&change, approved.as_ref()))
                .await
        };
        match applied {
            Ok(Ok(changed)) => {
                record.outcome = outcome;
                record.digest = changed.digest;
                note(record, &change, changed.resolved.as_ref());
                let summary = change.summary_resolved(changed.resolved.as_ref());
                tracing::info!(component = %change.component, change = %summary, outcome = outcome.as_str(), "policy changed");
                let mut out = json!({
                    "component": change.component,
                    "change": summary,
                    "policy": changed.after,
                });
                if let Some(why) = changed.still_disabled {
                    out["still_disabled"] = Value::String(why);
                }
                structured(out)
            }
            Ok(Err(error)) => failed(record, Outcome::Refused, error.to_string()),
            Err(error) => failed(record, Outcome::Refused, error),
        }
    }
}
