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
