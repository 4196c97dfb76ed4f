//! `weld_request_install`: the model asks for a tool from a registry or a
//! URL; weld fetches it and proves its signature under the trust policy
//! first (a source weld.toml does not trust is refused without asking
//! anyone: a person cannot vouch for a publisher over MCP), then shows the
//! person who signed it, its digest, what it imports and the functions it
//! offers, and installs it only when they approve — in either MCP era, like
//! a grant. It installs deny-all: a policy the artifact proposes is shown,
//! never applied here.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequestParams, ElicitResult,
};
use rmcp::service::RequestContext;
use serde_json::{Value, json};
use weld_host::audit::BuiltinRecord;
use weld_host::distribution::Preview;
use weld_host::outcome::Outcome;

use super::approvals::{
    Asked, approved, ask_for_input, ask_now, can_elicit, elicit_params, is_modern,
};
use super::{MAX_FETCHING, Management, failed, structured};

impl Management {
    pub(super) async fn install(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        record: &mut BuiltinRecord,
    ) -> CallToolResponse {
        let arguments = request.arguments.clone().unwrap_or_default();
        let Some(source) = arguments.get("source").and_then(Value::as_str) else {
            return failed(
                record,
                Outcome::InvalidArguments,
                "`source` (an oci:// reference or an https:// URL) is required".into(),
            )
            .into();
        };
        let name = arguments.get("name").and_then(Value::as_str);
        record.change = Some(format!("install {source}"));
        let installer = match self.installer() {
            Ok(installer) => installer,
            Err(why) => {
                let text = format!(
                    "Not installed: this weld serves no install requests ({why}). The user can \
                     run:\n\n  weld add {source}"
                );
                return failed(record, Outcome::Refused, text).into();
            }
        };
        // Fetched and proven before anyone is asked: a person approves a
        // verified publisher's exact bytes, never an unchecked source.
        let Ok(fetching) = Arc::clone(&self.fetching).try_acquire_owned() else {
            let text = format!(
                "Not installed: {MAX_FETCHING} install requests are being fetched already; ask \
                 again when they have finished. Nothing was written."
            );
            return failed(record, Outcome::Refused, text).into();
        };
        let preview = installer.preview(source, name).await;
        // Held only while fetching: a person may take minutes to answer.
        drop(fetching);
        let preview = match preview {
            Ok(preview) => preview,
            Err(error) => {
                let text = format!(
                    "Not installed: {}. Nothing was written.",
                    weld_host::describe_error(&error)
                );
                return failed(record, Outcome::Refused, text).into();
            }
        };
        record.component.clone_from(&preview.name);
        record.digest.clone_from(&preview.digest);
        record.change = Some(summary(&preview));
        if request.request_state.is_some() || request.input_responses.is_some() {
            return self.install_answered(request, preview, record).await.into();
        }
        if !can_elicit(context) {
            let text = format!(
                "Not installed: weld installs a tool only when a person approves it, and this \
                 client cannot ask its user. The user can run:\n\n  weld add {source}{}",
                name.map(|n| format!(" --name {n}")).unwrap_or_default()
            );
            return failed(record, Outcome::Refused, text).into();
        }
        let message = approval_message(&preview);
        if is_modern(context) {
            record.outcome = Outcome::ApprovalRequested;
            let state = self.approvals.issue(&preview.binding());
            return ask_for_input(install_question(message), state).into();
        }
        match ask_now(install_question(message), context).await {
            Asked::Answer(answer) => self.install_decided(preview, &answer, record).await.into(),
            Asked::Cancelled => failed(
                record,
                Outcome::Declined,
                "the request was cancelled before the user answered".into(),
            )
            .into(),
            Asked::Failed(error) => failed(
                record,
                Outcome::Refused,
                format!(
                    "Not installed: weld could not ask the user ({error}). The user can run:\n\n  \
                     weld add {source}"
                ),
            )
            .into(),
        }
    }

    async fn install_answered(
        &self,
        request: &CallToolRequestParams,
        preview: Preview,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        // Fetched again for the retry: the approval holds only if the
        // source still proves the very bytes and signer the person saw.
        match self
            .approvals
            .answer(request, &preview.binding(), "weld_request_install")
        {
            Ok(answer) => self.install_decided(preview, &answer, record).await,
            Err(why) => failed(record, Outcome::Refused, format!("Not installed: {why}")),
        }
    }

    async fn install_decided(
        &self,
        preview: Preview,
        answer: &ElicitResult,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        if !approved(answer) {
            return failed(
                record,
                Outcome::Declined,
                format!("Not installed: the user declined ({}).", summary(&preview)),
            );
        }
        let Ok(installer) = self.installer().map(Arc::clone) else {
            return failed(record, Outcome::Refused, "no installer".into());
        };
        let done = tokio::task::spawn_blocking(move || installer.install(preview)).await;
        match done {
            Ok(Ok(installed)) => {
                record.outcome = Outcome::Applied;
                let tools: Vec<&str> = installed
                    .catalog
                    .tools()
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                structured(json!({
                    "installed": installed.name,
                    "digest": installed.digest,
                    "tools": tools,
                    "note": "installed without a policy: it may use nothing but the clocks and \
                             randomness until access is granted (weld_request_grant)",
                }))
            }
            Ok(Err(error)) => failed(
                record,
                Outcome::Refused,
                format!("Not installed: {}", weld_host::describe_error(&error)),
            ),
            Err(error) => failed(record, Outcome::Refused, format!("internal error: {error}")),
        }
    }
}

fn summary(preview: &Preview) -> String {
    format!(
        "install {} as `{}` ({}, {})",
        preview.fetched.source,
        preview.name,
        preview.digest,
        preview
            .fetched
            .provenance
            .signer
            .as_deref()
            .map_or_else(|| "UNSIGNED".to_string(), |s| format!("signed by {s}"))
    )
}

/// What the person is shown: the source, the exact bytes, who signed them,
/// what the tool imports and offers, and what it proposes.
fn approval_message(preview: &Preview) -> String {
    let fetched = &preview.fetched;
    let mut message = format!(
        "A tool call asks weld to install a tool:\n\n  source:  {}\n  name:    {}\n  \
         digest:  {}\n",
        fetched.source, preview.name, preview.digest
    );
    if let Some(manifest) = &fetched.provenance.manifest {
        message.push_str(&format!("  manifest: {manifest}\n"));
    }
    match &fetched.provenance.signer {
        Some(signer) => message.push_str(&format!("  signed by: {signer} (verified)\n")),
        None => message.push_str("  UNSIGNED (allowed by an opt-out in weld.toml)\n"),
    }
    message.push_str("\nIt exports:\n");
    for function in &preview.functions {
        message.push_str(&format!("    {function}\n"));
    }
    message.push_str("It imports:\n");
    for import in &preview.imports {
        message.push_str(&format!("    {import}\n"));
    }
    if let Some((media_type, bytes)) = &fetched.proposed_policy {
        message.push_str(&format!(
            "\nIt proposes this policy ({media_type}); it will NOT be applied:\n\n"
        ));
        for line in String::from_utf8_lossy(bytes).lines().take(60) {
            message.push_str(&format!("    {line}\n"));
        }
    }
    message
        .push_str("\nIt is installed with no access at all. Approve only if you want this tool.");
    message
}

fn install_question(message: String) -> ElicitRequestParams {
    elicit_params(
        message,
        "Install this tool?",
        "true installs exactly the tool shown; anything else installs nothing.",
    )
}
