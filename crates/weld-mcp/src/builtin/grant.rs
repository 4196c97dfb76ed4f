//! `weld_request_grant`: asking a person to approve a grant, in both MCP
//! eras. A client that initialized (up to 2025-11-25) is sent
//! `elicitation/create` and weld waits for the answer; a 2026-07-28 client
//! gets an `input_required` result with a `requestState`
//! ([`super::approvals`]) and retries with the answer. Either way the
//! person is shown exactly what is asked, where its path leads and the
//! policy that would result, and the change is applied only if its path
//! still leads there.

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequestParams, ElicitResult,
};
use rmcp::service::RequestContext;
use weld_host::audit::BuiltinRecord;
use weld_host::outcome::Outcome;
use weld_host::policy_admin::{Changed, Direction, PolicyChange};
use weld_policy::Pin;

use super::Management;
use super::approvals::{
    Asked, approved, ask_for_input, ask_now, can_elicit, elicit_params, is_modern,
};
use super::args::parse_change;
use super::{failed, note};

impl Management {
    pub(super) async fn grant(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        record: &mut BuiltinRecord,
    ) -> CallToolResponse {
        let change = match parse_change(request, Direction::Grant) {
            Ok(change) => change,
            Err(message) => return failed(record, Outcome::InvalidArguments, message).into(),
        };
        note(record, &change, None);
        // Never ask a person to approve what would be refused anyway, and
        // resolve the path now: the person approves what it leads to.
        let preview = match self.preview(&change, record).await {
            Ok(preview) => preview,
            Err(refused) => return refused.into(),
        };
        if request.request_state.is_some() || request.input_responses.is_some() {
            return self
                .answered(request, change, preview.resolved, record)
                .await
                .into();
        }
        if self.options.allow_model_grants {
            return self
                .apply(change, preview.resolved, Outcome::AppliedUnapproved, record)
                .await
                .into();
        }
        if !can_elicit(context) {
            let text = self.cannot_ask(&change, &preview);
            return failed(record, Outcome::Refused, text).into();
        }
        let message = approval_message(&change, &preview);
        if is_modern(context) {
            record.outcome = Outcome::ApprovalRequested;
            let state = self
                .approvals
                .issue(&change.binding(preview.resolved.as_ref()));
            return ask_for_input(grant_question(message), state).into();
        }
        self.ask_now(change, preview.resolved, message, context, record)
            .await
            .into()
    }

    /// The refusal for a client that cannot ask its user: what a person can
    /// run instead.
    fn cannot_ask(&self, change: &PolicyChange, preview: &Changed) -> String {
        format!(
            "Not granted: weld applies a grant only when a person approves it, and this \
             client cannot ask its user (it did not declare MCP elicitation). To grant \
             it, the user can run:\n\n  {}\n\n{}.",
            self.command(change),
            change.meaning(preview.resolved.as_ref())
        )
    }

    /// Up to 2025-11-25: asks within this call.
    async fn ask_now(
        &self,
        change: PolicyChange,
        resolved: Option<Pin>,
        message: String,
        context: &RequestContext<RoleServer>,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        match ask_now(grant_question(message), context).await {
            Asked::Answer(answer) => self.decide(change, resolved, &answer, record).await,
            Asked::Cancelled => failed(
                record,
                Outcome::Declined,
                "the request was cancelled before the user answered".into(),
            ),
            Asked::Failed(error) => {
                let text = format!(
                    "Not granted: weld could not ask the user ({error}). To grant it, the user \
                     can run:\n\n  {}",
                    self.command(&change)
                );
                failed(record, Outcome::Refused, text)
            }
        }
    }

    /// The change previewed (checked, its path resolved), or the refusal.
    async fn preview(
        &self,
        change: &PolicyChange,
        record: &mut BuiltinRecord,
    ) -> Result<Changed, CallToolResult> {
        let preview = {
            let change = change.clone();
            self.blocking(move |p| p.preview(&change)).await
        };
        match preview {
            Ok(Ok(preview)) => {
                record.digest.clone_from(&preview.digest);
                note(record, change, preview.resolved.as_ref());
                Ok(preview)
            }
            Ok(Err(error)) => Err(failed(record, Outcome::Refused, error.to_string())),
            Err(error) => Err(failed(record, Outcome::Refused, error)),
        }
    }

    /// A 2026-07-28 retry: the approval must belong to exactly this change,
    /// with its path resolving to what it resolved to when the person was
    /// asked (`resolved`, as resolved again now).
    async fn answered(
        &self,
        request: &CallToolRequestParams,
        change: PolicyChange,
        resolved: Option<Pin>,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        match self.approvals.answer(
            request,
            &change.binding(resolved.as_ref()),
            "weld_request_grant",
        ) {
            Ok(answer) => self.decide(change, resolved, &answer, record).await,
            Err(why) => failed(record, Outcome::Refused, format!("Not granted: {why}")),
        }
    }

    async fn decide(
        &self,
        change: PolicyChange,
        resolved: Option<Pin>,
        answer: &ElicitResult,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        if !approved(answer) {
            return failed(
                record,
                Outcome::Declined,
                format!("Not granted: the user declined ({}).", change.summary()),
            );
        }
        self.apply(change, resolved, Outcome::Applied, record).await
    }
}

/// What the person is shown: exactly what is asked, where its path really
/// leads, what it means, and the policy that would result.
fn approval_message(change: &PolicyChange, preview: &Changed) -> String {
    let mut message = format!(
        "A tool call asks weld to change the policy of component `{}`:\n\n  {}\n\n{}.\n\n",
        change.component,
        change.summary_resolved(preview.resolved.as_ref()),
        change.meaning(preview.resolved.as_ref())
    );
    let (before, after) = (preview.before.as_deref(), preview.after.as_str());
    match before {
        Some(before) => {
            message.push_str("Its policy now:\n\n");
            message.push_str(&indent(before));
        }
        None => message.push_str("It has no policy now (it may reach nothing).\n"),
    }
    message.push_str("\nIts policy if you approve:\n\n");
    message.push_str(&indent(after));
    message.push_str("\nApprove only if you trust this component with this access.");
    message
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn grant_question(message: String) -> ElicitRequestParams {
    elicit_params(
        message,
        "Grant this access?",
        "true grants exactly the change shown; anything else grants nothing.",
    )
}
