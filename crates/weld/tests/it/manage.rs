//! The built-in management tools over MCP: the model can ask, only a person
//! (through elicitation) or the operator (`--allow-model-grants`) grants.
//! Real clients, a real `weld serve`, the real hostile component.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, RoleClient};
use serde_json::{Value, json};

/// What the simulated person answers.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    Approve,
    /// Accepts the form but says no.
    SayNo,
    Decline,
}

/// A client whose user answers every elicitation the same way; it keeps
/// the messages it was shown.
#[derive(Clone)]
pub(crate) struct Person {
    answer: Answer,
    shown: Arc<Mutex<Vec<String>>>,
}

impl Person {
    pub(crate) fn new(answer: Answer) -> Self {
        Self {
            answer,
            shown: Arc::default(),
        }
    }

    pub(crate) fn shown(&self) -> Vec<String> {
        self.shown.lock().expect("lock").clone()
    }
}

impl ClientHandler for Person {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.shown.lock().expect("lock").push(message);
        }
        Ok(match self.answer {
            Answer::Approve => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"approve": true}))
            }
            Answer::SayNo => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"approve": false}))
            }
            Answer::Decline => ElicitResult::new(ElicitationAction::Decline),
        })
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("weld-test-person", "1.0"),
        )
    }
}

pub(crate) async fn serve_with<H: ClientHandler>(
    dirs: &Dirs,
    args: &[&str],
    handler: H,
    mode: ClientLifecycleMode,
) -> RunningService<RoleClient, H> {
    let mut cmd = dirs.weld();
    cmd.arg("serve").args(args);
    let transport = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn weld serve")
        .0;
    handler
        .serve_with_lifecycle(transport, mode)
        .await
        .expect("MCP session over stdio")
}

/// A directory holding `notes.txt`, to be granted.
struct Granted {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Granted {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp
            .path()
            .canonicalize()
            .expect("canonical")
            .join("granted");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("notes.txt"), "hello").expect("write");
        Self { _tmp: tmp, dir }
    }

    fn uri(&self) -> String {
        format!("fs://{}/**", self.dir.display())
    }

    fn notes(&self) -> String {
        self.dir.join("notes.txt").display().to_string()
    }
}

fn policy_file(dirs: &Dirs) -> PathBuf {
    dirs.state.join("policies/hostile.yaml")
}

fn read_policy(dirs: &Dirs) -> Option<String> {
    std::fs::read_to_string(policy_file(dirs)).ok()
}

fn grant_args(granted: &Granted) -> Value {
    json!({"component": "hostile", "kind": "storage", "target": granted.uri(), "access": ["read"]})
}

pub(crate) async fn call_on<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    client.call_tool(params).await.expect("tools/call")
}

/// Calls `hostile_read-file` until it returns the file's content: the
/// server reloads a changed policy within about a second.
async fn reads_once_reloaded<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    path: &str,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let read = call_on(client, "hostile_read-file", json!({"path": path})).await;
        if read.structured_content == Some(json!({"result": "hello"})) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn a_grant_the_user_approves_is_written_and_the_tool_gains_access() {
    for (era, mode) in [("legacy", legacy()), ("2026-07-28", modern())] {
        let dirs = Dirs::new();
        install_hostile(&dirs).await;
        let granted = Granted::new();
        let person = Person::new(Answer::Approve);
        let client = serve_with(&dirs, &[], person.clone(), mode).await;
        let before = call_on(
            &client,
            "hostile_read-file",
            json!({"path": granted.notes()}),
        )
        .await;
        assert_eq!(
            before.is_error,
            Some(true),
            "{era}: readable before the grant"
        );

        let result = call_on(&client, "weld_request_grant", grant_args(&granted)).await;
        assert_eq!(result.is_error, Some(false), "{era}: {}", text(&result));
        let structured = result.structured_content.expect("structuredContent");
        assert_eq!(structured["component"], "hostile");
        assert!(
            structured["policy"]
                .as_str()
                .is_some_and(|p| p.contains(&granted.uri()))
        );

        let shown = person.shown();
        assert_eq!(shown.len(), 1, "{era}: asked once: {shown:?}");
        for expected in ["`hostile`", "grant storage", &granted.uri(), "access=read"] {
            assert!(
                shown[0].contains(expected),
                "{era}: {expected} not in {}",
                shown[0]
            );
        }
        let policy = read_policy(&dirs).expect("a policy was written");
        assert!(policy.contains(&granted.uri()), "{era}: {policy}");
        assert!(
            reads_once_reloaded(&client, &granted.notes()).await,
            "{era}: the granted file stayed unreadable"
        );
        let record = audited(&dirs, "weld_request_grant", "applied").await;
        assert_eq!(record["component"], "hostile");
        assert!(
            record["change"]
                .as_str()
                .is_some_and(|c| c.contains(&granted.uri()))
        );
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn a_grant_the_user_declines_changes_nothing() {
    for (answer, mode) in [
        (Answer::Decline, legacy()),
        (Answer::SayNo, legacy()),
        (Answer::Decline, modern()),
        (Answer::SayNo, modern()),
    ] {
        let dirs = Dirs::new();
        install_hostile(&dirs).await;
        let granted = Granted::new();
        let person = Person::new(answer);
        let client = serve_with(&dirs, &[], person.clone(), mode).await;
        let result = call_on(&client, "weld_request_grant", grant_args(&granted)).await;
        assert_eq!(result.is_error, Some(true), "{}", text(&result));
        assert!(text(&result).contains("declined"), "{}", text(&result));
        assert_eq!(person.shown().len(), 1);
        assert_eq!(read_policy(&dirs), None);
        audited(&dirs, "weld_request_grant", "declined").await;
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn a_client_that_cannot_ask_its_user_is_told_the_weld_grant_command() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let granted = Granted::new();
    let state = dirs.state.display().to_string();
    let expected = format!(
        "weld --state-dir {state} grant hostile storage 'fs://{}/**' --access read",
        granted.dir.display()
    );
    for mode in [legacy(), modern()] {
        let client = stdio_client(&dirs, &[], mode).await;
        let result = call(&client, "weld_request_grant", grant_args(&granted)).await;
        assert_eq!(result.is_error, Some(true), "{}", text(&result));
        assert!(text(&result).contains(&expected), "{}", text(&result));
        assert_eq!(read_policy(&dirs), None);
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn over_http_a_client_that_initialized_has_a_session_through_which_its_person_is_asked() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let granted = Granted::new();
    let (_server, addr) = http_server(&dirs, &[]).await;
    let transport = {
        crate::common::install_crypto();
        rmcp::transport::StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"))
    };
    let person = Person::new(Answer::Approve);
    let client = person
        .clone()
        .serve_with_lifecycle(transport, legacy())
        .await
        .expect("MCP session over HTTP");
    let result = call_on(&client, "weld_request_grant", grant_args(&granted)).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    assert_eq!(person.shown().len(), 1, "the person was not asked");
    assert!(
        read_policy(&dirs).is_some(),
        "the approved grant was not applied"
    );
    audited(&dirs, "weld_request_grant", "applied").await;
    client.cancel().await.expect("close");
}

/// Round one of a 2026-07-28 grant: the `requestState` weld hands out.
pub(crate) async fn ask<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    arguments: Value,
) -> String {
    let mut params = CallToolRequestParams::new("weld_request_grant");
    params.arguments = args(arguments);
    match client.call_tool_once(params).await.expect("tools/call") {
        CallToolResponse::InputRequired(input) => {
            let requests = input.input_requests.expect("an input request");
            assert!(requests.contains_key("approve"), "{requests:?}");
            input.request_state.expect("a requestState")
        }
        other => panic!("expected input_required, got {other:?}"),
    }
}

/// Round two: `arguments` with an approval and `state`.
pub(crate) async fn answer<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    arguments: Value,
    state: &str,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new("weld_request_grant");
    params.arguments = args(arguments);
    params.request_state = Some(state.to_string());
    params.input_responses = Some(
        [(
            "approve".to_string(),
            json!({"action": "accept", "content": {"approve": true}}),
        )]
        .into_iter()
        .collect(),
    );
    match client.call_tool_once(params).await.expect("tools/call") {
        CallToolResponse::Complete(result) => result,
        other => panic!("expected a result, got {other:?}"),
    }
}

#[tokio::test]
async fn an_approval_holds_only_for_the_grant_shown_and_only_once() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let shown = Granted::new();
    let other = Granted::new();
    let client = serve_with(&dirs, &[], Person::new(Answer::Approve), modern()).await;

    let state = ask(&client, grant_args(&shown)).await;
    let swapped = answer(&client, grant_args(&other), &state).await;
    assert_eq!(swapped.is_error, Some(true), "{}", text(&swapped));
    assert!(
        text(&swapped).contains("does not match"),
        "{}",
        text(&swapped)
    );
    let mut wider = grant_args(&shown);
    wider["access"] = json!(["read", "write"]);
    let widened = answer(&client, wider, &state).await;
    assert_eq!(widened.is_error, Some(true), "{}", text(&widened));
    let last = if state.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &state[..state.len() - 1]);
    let altered = answer(&client, grant_args(&shown), &tampered).await;
    assert_eq!(altered.is_error, Some(true), "{}", text(&altered));
    assert_eq!(read_policy(&dirs), None, "nothing granted by a mismatch");

    // The refused attempts did not use the approval up; the honest retry
    // does, once.
    let honest = answer(&client, grant_args(&shown), &state).await;
    assert_eq!(honest.is_error, Some(false), "{}", text(&honest));
    assert!(read_policy(&dirs).is_some_and(|p| p.contains(&shown.uri())));
    let replayed = answer(&client, grant_args(&shown), &state).await;
    assert_eq!(replayed.is_error, Some(true), "{}", text(&replayed));
    assert!(
        text(&replayed).contains("already used"),
        "{}",
        text(&replayed)
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn over_stateless_http_an_approval_is_carried_by_its_request_state_and_counts_once() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let shown = Granted::new();
    let later = Granted::new();
    let (_server, addr) = http_server(&dirs, &[]).await;
    let transport = {
        crate::common::install_crypto();
        rmcp::transport::StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"))
    };
    let person = Person::new(Answer::Approve);
    let client = person
        .clone()
        .serve_with_lifecycle(transport, modern())
        .await
        .expect("MCP over HTTP");

    // Each round is its own HTTP request and no session joins them: only
    // the requestState does.
    let state = ask(&client, grant_args(&shown)).await;
    audited(&dirs, "weld_request_grant", "approval_requested").await;
    let swapped = answer(&client, grant_args(&later), &state).await;
    assert_eq!(swapped.is_error, Some(true), "{}", text(&swapped));
    assert_eq!(read_policy(&dirs), None, "nothing granted by a mismatch");
    let approved = answer(&client, grant_args(&shown), &state).await;
    assert_eq!(approved.is_error, Some(false), "{}", text(&approved));
    assert!(read_policy(&dirs).is_some_and(|p| p.contains(&shown.uri())));
    let replayed = answer(&client, grant_args(&shown), &state).await;
    assert_eq!(replayed.is_error, Some(true), "{}", text(&replayed));
    assert!(
        text(&replayed).contains("already used"),
        "{}",
        text(&replayed)
    );
    assert!(
        reads_once_reloaded(&client, &shown.notes()).await,
        "the granted file stayed unreadable"
    );

    // rmcp's own round driving asks the person through the client handler.
    let result = call_on(&client, "weld_request_grant", grant_args(&later)).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    assert_eq!(person.shown().len(), 1, "{:?}", person.shown());
    assert!(read_policy(&dirs).is_some_and(|p| p.contains(&later.uri())));
    let record = audited(&dirs, "weld_request_grant", "applied").await;
    assert_eq!(record["component"], "hostile");
}

#[tokio::test]
async fn a_grant_weld_cannot_enforce_is_refused_before_anyone_is_asked() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let person = Person::new(Answer::Approve);
    let client = serve_with(&dirs, &[], person.clone(), legacy()).await;
    let missing =
        json!({"component": "hostile", "kind": "storage", "target": "fs:///no/such/dir/**"});
    let result = call_on(&client, "weld_request_grant", missing).await;
    assert_eq!(result.is_error, Some(true), "{}", text(&result));
    assert!(text(&result).contains("/no/such/dir"), "{}", text(&result));
    assert!(person.shown().is_empty(), "asked: {:?}", person.shown());
    assert_eq!(read_policy(&dirs), None);
    let unknown = call_on(
        &client,
        "weld_request_grant",
        json!({"component": "nobody", "kind": "env", "target": "HOME"}),
    )
    .await;
    assert_eq!(unknown.is_error, Some(true));
    assert!(text(&unknown).contains("nobody"), "{}", text(&unknown));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn allow_model_grants_applies_a_grant_without_asking() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let granted = Granted::new();
    let person = Person::new(Answer::Decline);
    let client = serve_with(&dirs, &["--allow-model-grants"], person.clone(), legacy()).await;
    let result = call_on(&client, "weld_request_grant", grant_args(&granted)).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    assert!(person.shown().is_empty());
    assert!(read_policy(&dirs).is_some_and(|p| p.contains(&granted.uri())));
    assert!(reads_once_reloaded(&client, &granted.notes()).await);
    audited(&dirs, "weld_request_grant", "applied_unapproved").await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn revoking_needs_no_approval() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let granted = Granted::new();
    let uri = granted.uri();
    let output = dirs.run(&["grant", "hostile", "storage", &uri]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A client that could not ask anyone: revoking does not need to.
    let client = stdio_client(&dirs, &[], modern()).await;
    let result = call(
        &client,
        "weld_revoke",
        json!({"component": "hostile", "kind": "storage", "target": uri}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    assert!(read_policy(&dirs).is_some_and(|p| !p.contains(&uri)));
    let again = call(
        &client,
        "weld_revoke",
        json!({"component": "hostile", "kind": "storage", "target": uri}),
    )
    .await;
    assert_eq!(again.is_error, Some(true), "revoking twice must say so");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn components_and_policies_can_be_listed_and_shown() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let output = dirs.run(&["grant", "hostile", "env", "LANG"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let client = stdio_client(&dirs, &[], legacy()).await;
    let listed = call(&client, "weld_list_components", json!({})).await;
    let components = &listed.structured_content.expect("structured")["components"];
    assert_eq!(components[0]["name"], "hostile");
    assert_eq!(components[0]["has_policy"], true);
    assert!(
        components[0]["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("hostile_echo")))
    );
    let shown = call(&client, "weld_show_policy", json!({"component": "hostile"})).await;
    let shown = shown.structured_content.expect("structured");
    assert!(
        shown["policy"].as_str().is_some_and(|p| p.contains("LANG")),
        "{shown}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn no_builtin_tools_removes_them_entirely() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    for (flags, present) in [(&[][..], true), (&["--no-builtin-tools"][..], false)] {
        let client = stdio_client(&dirs, flags, legacy()).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let builtin: Vec<&str> = tools
            .iter()
            .map(|t| t.name.as_ref())
            .filter(|n| n.starts_with("weld_"))
            .collect();
        if present {
            assert_eq!(
                builtin,
                [
                    "weld_list_components",
                    "weld_request_grant",
                    "weld_request_install",
                    "weld_revoke",
                    "weld_show_policy"
                ]
            );
        } else {
            assert!(builtin.is_empty(), "{builtin:?}");
            let error = client
                .call_tool(CallToolRequestParams::new("weld_list_components"))
                .await
                .expect_err("not callable");
            assert!(
                error.to_string().contains("weld_list_components"),
                "{error}"
            );
        }
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn no_component_can_take_the_built_in_tools_name() {
    let dirs = Dirs::new();
    let hostile = component("hostile").display().to_string();
    let output = dirs.run(&["add", &hostile, "--name", "weld"]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("reserved"), "{stderr}");
    let copy = tempfile::tempdir().expect("tempdir");
    let named = copy.path().join("weld.wasm");
    std::fs::copy(Path::new(&hostile), &named).expect("copy");
    // Given on the command line, it is disabled with the reason; weld
    // still serves (here until its stdin closes).
    let output = dirs
        .run(&["serve", "--component", &named.display().to_string()])
        .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("component file disabled") && stderr.contains("reserved"),
        "{stderr}"
    );
}
