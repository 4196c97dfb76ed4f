//! Output caps: a result over the policy's limit, or over the default cap
//! without a policy, is a tool error, not a flood.

use super::*;
use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn the_output_limit_turns_a_huge_result_into_a_tool_error() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let policy = dirs.state.parent().expect("tmp").join("limits.yaml");
    std::fs::write(
        &policy,
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { output: \"64Ki\" }\n",
    )
    .expect("write");
    weld_ok(
        &dirs,
        &["policy", "set", "hostile", &policy.display().to_string()],
    )
    .await;
    let client = serve(&dirs).await;
    let huge = call(&client, "hostile_huge-output", json!({"mebibytes": 1})).await;
    assert!(is_err(&huge));
    assert!(text(&huge).contains("output limit"), "{}", text(&huge));
    still_serving(&client).await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_hundred_mebibyte_result_without_a_policy_is_refused_by_the_default_cap() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let client = serve(&dirs).await;
    let huge = call(&client, "hostile_huge-output", json!({"mebibytes": 100})).await;
    assert!(is_err(&huge));
    assert!(
        text(&huge).contains("more than its output limit of 4194304 bytes"),
        "{}",
        text(&huge)
    );
    still_serving(&client).await;
    client.cancel().await.expect("close");
}
