//! A running server picks up `weld add` / `weld remove` from another process
//! and tells its clients: legacy ones with `notifications/tools/list_changed`,
//! 2026-07-28 ones on their `subscriptions/listen` stream.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use rmcp::model::SubscriptionFilter;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientServiceExt, RoleClient};
use serde_json::json;
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub(crate) struct Watcher {
    pub(crate) changed: Arc<Notify>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }
}

pub(crate) async fn watching_client(
    dirs: &Dirs,
    watcher: Watcher,
) -> RunningService<RoleClient, Watcher> {
    let mut cmd = dirs.weld();
    cmd.arg("serve");
    let transport = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn")
        .0;
    watcher
        .serve_with_lifecycle(transport, legacy())
        .await
        .expect("session")
}

/// The components' tools (the built-in `weld_*` ones never change).
async fn tool_names(client: &rmcp::Peer<RoleClient>) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .filter(|name| !name.starts_with("weld_"))
        .collect()
}

#[tokio::test]
async fn a_component_added_while_serving_is_announced_and_served() {
    let dirs = Dirs::new();
    assert!(
        dirs.run(&["add", &component("add").display().to_string()])
            .await
            .status
            .success()
    );
    let watcher = Watcher::default();
    let client = watching_client(&dirs, watcher.clone()).await;
    assert_eq!(tool_names(client.peer()).await, ["add_add"]);

    let added = dirs
        .run(&["add", &component("text").display().to_string()])
        .await;
    assert!(added.status.success());
    tokio::time::timeout(Duration::from_secs(30), watcher.changed.notified())
        .await
        .expect("tools/list_changed after weld add");
    assert!(
        tool_names(client.peer())
            .await
            .contains(&"text_slugify".to_string())
    );
    let slug = call_on(client.peer(), "text_slugify", json!({"text": "A B"})).await;
    assert_eq!(slug.structured_content, Some(json!({"result": "a-b"})));

    assert!(dirs.run(&["remove", "text"]).await.status.success());
    tokio::time::timeout(Duration::from_secs(30), watcher.changed.notified())
        .await
        .expect("tools/list_changed after weld remove");
    assert_eq!(tool_names(client.peer()).await, ["add_add"]);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_modern_client_hears_of_changes_on_its_subscription() {
    let dirs = Dirs::new();
    assert!(
        dirs.run(&["add", &component("add").display().to_string()])
            .await
            .status
            .success()
    );
    let client = stdio_client(&dirs, &[], modern()).await;
    let mut subscription = client
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("subscriptions/listen");
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    assert!(
        dirs.run(&["add", &component("text").display().to_string()])
            .await
            .status
            .success()
    );
    let notification = tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .expect("a notification after weld add")
        .expect("subscription alive")
        .expect("a notification");
    assert!(
        matches!(
            notification,
            rmcp::model::ServerNotification::ToolListChangedNotification(_)
        ),
        "{notification:?}"
    );
    assert!(
        tool_names(client.peer())
            .await
            .contains(&"text_slugify".to_string())
    );
}

#[tokio::test]
async fn a_corrupt_index_while_serving_keeps_the_current_tools() {
    let dirs = Dirs::new();
    assert!(
        dirs.run(&["add", &component("add").display().to_string()])
            .await
            .status
            .success()
    );
    let client = stdio_client(&dirs, &[], legacy()).await;
    std::fs::write(dirs.state.join("index.json"), b"{ broken").expect("corrupt");
    // Give the watcher (1 s period) time to see it and refuse it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sum = call(&client, "add_add", json!({"a": 1, "b": 2})).await;
    assert_eq!(sum.structured_content, Some(json!({"result": 3})));
    client.cancel().await.expect("close");
}

async fn call_on(
    peer: &rmcp::Peer<RoleClient>,
    tool: &str,
    arguments: serde_json::Value,
) -> rmcp::model::CallToolResult {
    let mut params = rmcp::model::CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    peer.call_tool(params).await.expect("tools/call")
}

/// Installs `wasm` under `name` the way `weld add` records it, but without
/// compiling it (as another weld with its own cache would have): a server
/// watching the state then has to compile it itself.
fn install_uncompiled(dirs: &Dirs, name: &str, wasm: &std::path::Path) {
    use sha2::Digest as _;
    let bytes = std::fs::read(wasm).expect("read");
    let hex = hex::encode(sha2::Sha256::digest(&bytes));
    let blob = dirs.state.join(format!("blobs/sha256/{hex}.wasm"));
    std::fs::write(&blob, &bytes).expect("write blob");
    let index_path = dirs.state.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("json");
    index["components"][name] = json!({
        "digest": format!("sha256:{hex}"),
        "size": bytes.len(),
        "source": "test",
        "installed_at": 0,
    });
    let tmp = dirs.state.join("index.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&index).expect("json")).expect("write");
    std::fs::rename(&tmp, &index_path).expect("rename");
}

#[tokio::test]
async fn a_revocation_is_applied_while_another_component_is_still_compiling() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    weld_ok(&dirs, &["grant", "hostile", "env", "WELD_TEST_REVOKED"]).await;
    let mut cmd = dirs.weld();
    cmd.env("WELD_TEST_REVOKED", "still here").arg("serve");
    let transport = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn")
        .0;
    let client = ().serve_with_lifecycle(transport, legacy()).await.expect("session");
    let read = || {
        call(
            &client,
            "hostile_get-env",
            json!({"key": "WELD_TEST_REVOKED"}),
        )
    };
    assert_eq!(
        read().await.structured_content,
        Some(json!({"result": "still here"}))
    );

    // A component whose compile takes minutes appears in the state, and
    // right after it a revocation.
    let tmp = tempfile::tempdir().expect("tempdir");
    let slow = crate::compile_limits::slow_component_of(tmp.path(), 60_000);
    install_uncompiled(&dirs, "slow", &slow);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    weld_ok(&dirs, &["revoke", "hostile", "env", "WELD_TEST_REVOKED"]).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if read().await.structured_content == Some(json!({"result": null})) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the revocation waited behind the compile"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It was applied before the slow component could be served: that one
    // is listed as being compiled.
    assert!(
        !tool_names(client.peer())
            .await
            .contains(&"slow_slow".to_string())
    );
    let listed = call(&client, "weld_list_components", json!({})).await;
    let listed = listed.structured_content.expect("structured");
    let slow = listed["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "slow"))
        .cloned()
        .expect("listed");
    assert!(
        slow["disabled"]
            .as_str()
            .is_some_and(|d| d.contains("being compiled")),
        "{slow}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_component_the_server_must_compile_itself_is_served_once_compiled() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let watcher = Watcher::default();
    let client = watching_client(&dirs, watcher.clone()).await;
    install_uncompiled(&dirs, "adder", &component("add"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !tool_names(client.peer())
        .await
        .iter()
        .any(|t| t.starts_with("adder_"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never served after compiling"
        );
        tokio::time::timeout(Duration::from_secs(5), watcher.changed.notified())
            .await
            .ok();
    }
    let mut params = rmcp::model::CallToolRequestParams::new("hostile_echo");
    params.arguments = args(json!({"text": "alive"}));
    let echo = client.call_tool(params).await.expect("tools/call");
    assert_eq!(echo.structured_content, Some(json!({"result": "alive"})));
    client.cancel().await.expect("close");
}
