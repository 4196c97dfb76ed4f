//! Asking a person: the yes/no form both eras put to the user, and the
//! HMAC approval tokens — the `requestState` a 2026-07-28 client carries
//! from the `input_required` result that asked its user back to the retry
//! that answers, binding the approval to exactly one change.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::RequestContext;
use serde_json::json;
use sha2::Sha256;

use super::schemas::object;

/// The key of the one input request of a change awaiting approval; its
/// answer is `{"approve": true}`.
pub(super) const APPROVE_KEY: &str = "approve";

/// How long a person has to answer, and an approval stays valid.
pub(super) const APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);

/// Approvals awaited from 2026-07-28 clients. Nothing is kept per request
/// but the nonces already redeemed: the `requestState` carries an expiry, a
/// nonce and an HMAC-SHA256 over them and the canonical change, under a key
/// drawn when the process starts (so a restart voids pending approvals).
pub(super) struct Approvals {
    key: [u8; 32],
    /// Redeemed nonces, until their expiry: each approval counts once.
    redeemed: Mutex<HashMap<String, u64>>,
}

impl Approvals {
    pub(super) fn new() -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self {
            key,
            redeemed: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, expiry: u64, nonce: &str, binding: &str) -> Hmac<Sha256> {
        // The key is 32 bytes; HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(format!("weld-grant-approval-v2\n{expiry}\n{nonce}\n").as_bytes());
        mac.update(binding.as_bytes());
        mac
    }

    /// A `requestState` for the change `binding` names
    /// ([`PolicyChange::binding`](weld_host::policy_admin::PolicyChange::binding): the change and what its path resolves
    /// to): `v1.EXPIRY.NONCE.MAC`.
    pub(super) fn issue(&self, binding: &str) -> String {
        let expiry = now() + APPROVAL_TIMEOUT.as_secs();
        let mut nonce = [0u8; 16];
        // A failed draw leaves zeros: the expiry still makes the state
        // unique enough to redeem once, and the MAC still binds it.
        let _ = getrandom::fill(&mut nonce);
        let nonce = hex::encode(nonce);
        let tag = hex::encode(self.mac(expiry, &nonce, binding).finalize().into_bytes());
        format!("v1.{expiry}.{nonce}.{tag}")
    }

    /// Checks that `state` was issued by this process for exactly
    /// `binding` (the same change, resolving to the same path), has not
    /// expired and was not redeemed before; marks it redeemed.
    pub(super) fn redeem(&self, state: &str, binding: &str) -> Result<(), &'static str> {
        let mut parts = state.split('.');
        let (Some("v1"), Some(expiry), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("the requestState is not one weld issued");
        };
        let expiry: u64 = expiry
            .parse()
            .map_err(|_| "the requestState is not one weld issued")?;
        let tag = hex::decode(tag).map_err(|_| "the requestState is not one weld issued")?;
        self.mac(expiry, nonce, binding)
            .verify_slice(&tag)
            .map_err(|_| {
                "the approval does not match this request (different arguments, a path that \
                 now resolves elsewhere, another weld process, or an altered requestState)"
            })?;
        let now = now();
        if expiry < now {
            return Err("the approval has expired");
        }
        let mut redeemed = self.redeemed.lock().unwrap_or_else(|e| e.into_inner());
        redeemed.retain(|_, until| *until >= now);
        if redeemed.insert(nonce.to_string(), expiry).is_some() {
            return Err("this approval was already used");
        }
        Ok(())
    }
}

/// What came of asking a person within the call (up to 2025-11-25).
pub(super) enum Asked {
    /// Their answer: approved exactly when [`approved`] says so.
    Answer(ElicitResult),
    /// The tool call was cancelled before they answered.
    Cancelled,
    /// The question could not be put or answered (why).
    Failed(String),
}

/// Sends `elicitation/create` and waits for the person's answer, at most
/// [`APPROVAL_TIMEOUT`], or until the call is cancelled.
pub(super) async fn ask_now(
    question: ElicitRequestParams,
    context: &RequestContext<RoleServer>,
) -> Asked {
    tokio::select! {
        asked = context.peer.create_elicitation_with_timeout(question, Some(APPROVAL_TIMEOUT)) => {
            match asked {
                Ok(answer) => Asked::Answer(answer),
                Err(error) => Asked::Failed(error.to_string()),
            }
        }
        () = context.ct.cancelled() => Asked::Cancelled,
    }
}

/// Whether `answer` approves: accepted, with `approve` exactly `true`.
pub(super) fn approved(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get(APPROVE_KEY))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
}

impl Approvals {
    /// A 2026-07-28 retry's answer, once its `requestState` is proven to be
    /// one this process issued for exactly `binding` and not used before.
    /// The error says why not (`tool` is the built-in to call again).
    pub(super) fn answer(
        &self,
        request: &CallToolRequestParams,
        binding: &str,
        tool: &str,
    ) -> Result<ElicitResult, String> {
        let Some(state) = &request.request_state else {
            return Err(format!(
                "an approval came without its requestState; call {tool} again without \
                 inputResponses to ask the user"
            ));
        };
        self.redeem(state, binding).map_err(|why| {
            format!(
                "{why}. Call {tool} again (without inputResponses or requestState) to ask the \
                 user."
            )
        })?;
        request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(APPROVE_KEY))
            .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok())
            .ok_or_else(|| format!("no answer to input request `{APPROVE_KEY}`."))
    }
}

/// From 2026-07-28: the result that asks the client to put `question` to
/// its user and call again with the answer and `state`.
pub(super) fn ask_for_input(question: ElicitRequestParams, state: String) -> InputRequiredResult {
    let mut requests = std::collections::BTreeMap::new();
    requests.insert(
        APPROVE_KEY.to_string(),
        InputRequest::Elicitation(ElicitRequest::new(question)),
    );
    InputRequiredResult::new(Some(requests), Some(state))
}

/// A yes/no form: `message`, and one boolean `approve` titled `title`.
pub(super) fn elicit_params(
    message: String,
    title: &str,
    description: &str,
) -> ElicitRequestParams {
    let schema = json!({
        "type": "object",
        "properties": {
            APPROVE_KEY: {
                "type": "boolean",
                "title": title,
                "description": description,
            }
        },
        "required": [APPROVE_KEY]
    });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: ElicitationSchema::from_json_schema(object(schema))
            .unwrap_or_else(|_| ElicitationSchema::new(Default::default())),
    }
}

/// Whether the client speaks 2026-07-28 or later (input_required, not
/// elicitation/create).
pub(super) fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

/// Whether the client declared form elicitation (an empty `elicitation`
/// object means form, for clients older than the `form`/`url` split).
pub(super) fn can_elicit(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use weld_host::policy_admin::{Capability, Direction, PolicyChange};

    use super::*;

    fn change(uri: &str) -> String {
        PolicyChange {
            component: "notes".into(),
            direction: Direction::Grant,
            capability: Capability::Storage {
                uri: uri.into(),
                access: vec![weld_policy::Access::Read],
            },
        }
        .binding(None)
    }

    fn pin(real: &str, ino: u64) -> weld_policy::Pin {
        weld_policy::Pin {
            uri: weld_policy::StorageUri::parse("fs:///a/**").expect("uri"),
            base: None,
            lexical: "/a".into(),
            real: real.into(),
            pinned: weld_policy::Pinned::Dir(weld_policy::Identity { dev: 1, ino }),
        }
    }

    #[test]
    fn an_approval_is_void_when_the_path_resolves_elsewhere_at_the_answer() {
        let approvals = Approvals::new().expect("key");
        let change = PolicyChange {
            component: "notes".into(),
            direction: Direction::Grant,
            capability: Capability::Storage {
                uri: "fs:///a/**".into(),
                access: vec![weld_policy::Access::Read],
            },
        };
        let shown = pin("/a", 7);
        let state = approvals.issue(&change.binding(Some(&shown)));
        for now in [pin("/home/me/.ssh", 7), pin("/a", 8)] {
            assert!(
                approvals
                    .redeem(&state, &change.binding(Some(&now)))
                    .is_err()
            );
        }
        assert_eq!(
            approvals.redeem(&state, &change.binding(Some(&shown))),
            Ok(())
        );
    }

    #[test]
    fn an_approval_redeems_once_and_only_for_its_change() {
        let approvals = Approvals::new().expect("key");
        let asked = change("fs:///a/**");
        let state = approvals.issue(&asked);
        assert!(approvals.redeem(&state, &change("fs:///b/**")).is_err());
        assert_eq!(approvals.redeem(&state, &asked), Ok(()));
        assert_eq!(
            approvals.redeem(&state, &asked),
            Err("this approval was already used")
        );
    }

    #[test]
    fn an_altered_or_foreign_request_state_is_refused() {
        let approvals = Approvals::new().expect("key");
        let asked = change("fs:///a/**");
        let state = approvals.issue(&asked);
        let later = state.replacen("v1.", "v1.9", 1);
        assert!(approvals.redeem(&later, &asked).is_err());
        assert!(approvals.redeem("v1.1.2.3", &asked).is_err());
        assert!(approvals.redeem("", &asked).is_err());
        let other = Approvals::new().expect("key");
        assert!(other.redeem(&state, &asked).is_err());
    }
}
