//! Environment grants: a granted variable is seen and no other, and a
//! secret reaches only its tool and is never shown back.

use super::*;
use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn a_granted_variable_is_seen_and_no_other() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    weld_ok(&dirs, &["grant", "hostile", "env", "GRANTED_KEY"]).await;
    let client = serve(&dirs).await;
    let value = call(&client, "hostile_get-env", json!({"key": "GRANTED_KEY"})).await;
    assert_eq!(
        value.structured_content,
        Some(json!({"result": "granted-value"}))
    );
    let keys = call(&client, "hostile_env-keys", json!({})).await;
    assert_eq!(
        keys.structured_content,
        Some(json!({"result": ["GRANTED_KEY"]}))
    );
    client.cancel().await.expect("close");

    weld_ok(&dirs, &["revoke", "hostile", "env", "GRANTED_KEY"]).await;
    let client = serve(&dirs).await;
    let keys = call(&client, "hostile_env-keys", json!({})).await;
    assert_eq!(keys.structured_content, Some(json!({"result": []})));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_secret_reaches_only_its_tool_and_is_never_shown_back() {
    use tokio::io::AsyncWriteExt;
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let mut set = dirs
        .weld()
        .args(["secret", "set", "hostile", "API_TOKEN"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = set.stdin.take().expect("stdin");
    stdin.write_all(b"tok-123456\n").await.expect("write");
    drop(stdin);
    let output = set.wait_with_output().await.expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("tok-123456"));
    weld_ok(&dirs, &["grant", "hostile", "env", "API_TOKEN", "--secret"]).await;

    let listed = dirs.run(&["secret", "list", "hostile"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("API_TOKEN") && !listed.contains("tok-123456"),
        "{listed}"
    );
    let policy = std::fs::read_to_string(dirs.state.join("policies/hostile.yaml")).expect("policy");
    assert!(!policy.contains("tok-123456"));

    let client = serve(&dirs).await;
    let value = call(&client, "hostile_get-env", json!({"key": "API_TOKEN"})).await;
    assert_eq!(
        value.structured_content,
        Some(json!({"result": "tok-123456"}))
    );
    client.cancel().await.expect("close");
    let audit = dirs.run(&["audit", "--json"]).await;
    assert!(!String::from_utf8_lossy(&audit.stdout).contains("tok-123456"));
}
