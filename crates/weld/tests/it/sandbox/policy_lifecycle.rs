//! A policy's life: refused policies are not written, a broken one disables
//! only its component, `weld policy show` prints the grant, and a policy
//! offered beside a component is applied only when accepted.

use super::*;
use crate::common::*;
use serde_json::{Value, json};

/// A policy the hostile component cannot run under: it denies an interface
/// the component imports.
const REFUSED_POLICY: &str =
    "version: \"1.0\"\npermissions:\n  interfaces:\n    deny: [\"wasi:cli/environment\"]\n";

#[tokio::test]
async fn a_policy_weld_refuses_is_not_written_and_a_broken_one_disables_only_its_component() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let policy = dirs.state.parent().expect("tmp").join("refused.yaml");
    std::fs::write(&policy, REFUSED_POLICY).expect("write");
    let refused = dirs
        .run(&["policy", "set", "hostile", &policy.display().to_string()])
        .await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("wasi:cli/environment"), "{stderr}");
    assert!(!dirs.state.join("policies/hostile.yaml").exists());

    // A policy file damaged behind weld's back disables that component,
    // naming the file; weld starts and serves the others.
    weld_ok(&dirs, &["add", &component("text").display().to_string()]).await;
    std::fs::create_dir_all(dirs.state.join("policies")).expect("mkdir");
    std::fs::write(dirs.state.join("policies/hostile.yaml"), "version: [").expect("write");
    let client = stdio_client(&dirs, &[], legacy()).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name.starts_with("text_")));
    assert!(!tools.iter().any(|t| t.name.starts_with("hostile_")));
    let listed = call(&client, "weld_list_components", json!({})).await;
    let components = listed.structured_content.expect("structured")["components"].clone();
    let hostile = components
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "hostile"))
        .cloned()
        .expect("hostile listed");
    assert!(
        hostile["disabled"]
            .as_str()
            .is_some_and(|d| d.contains("hostile.yaml")),
        "{hostile}"
    );
    client.cancel().await.expect("close");
    let listed = dirs.run(&["list"]).await;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        stdout.contains("DISABLED") && stdout.contains("hostile.yaml"),
        "{stdout}"
    );
    let called = dirs
        .run(&["call", "hostile_echo", r#"{"text": "x"}"#])
        .await;
    let stderr = String::from_utf8_lossy(&called.stderr);
    assert!(
        !called.status.success() && stderr.contains("disabled") && stderr.contains("hostile.yaml"),
        "{stderr}"
    );
}

#[tokio::test]
async fn policy_show_prints_the_current_grant() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let none = dirs.run(&["policy", "show", "hostile"]).await;
    assert!(String::from_utf8_lossy(&none.stdout).contains("no policy"));
    weld_ok(&dirs, &["grant", "hostile", "env", "GRANTED_KEY"]).await;
    let shown = dirs.run(&["policy", "show", "hostile"]).await;
    let text: Value = Value::String(String::from_utf8_lossy(&shown.stdout).into_owned());
    assert!(
        text.as_str().is_some_and(|t| t.contains("GRANTED_KEY")),
        "{text}"
    );
}

#[tokio::test]
async fn a_policy_beside_the_component_is_shown_and_applied_only_when_accepted() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("hostile.wasm");
    std::fs::copy(component("hostile"), &wasm).expect("copy");
    std::fs::write(
        dir.path().join("hostile.policy.yaml"),
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: GRANTED_KEY\n",
    )
    .expect("write");
    let wasm = wasm.display().to_string();

    // No terminal to ask and no --accept-policy: shown, not applied.
    let added = dirs.run(&["add", &wasm]).await;
    assert!(added.status.success());
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(
        stdout.contains("GRANTED_KEY") && stdout.contains("NOT applied"),
        "{stdout}"
    );
    assert!(!dirs.state.join("policies/hostile.yaml").exists());

    weld_ok(&dirs, &["add", &wasm, "--force", "--accept-policy"]).await;
    let client = serve(&dirs).await;
    let value = call(&client, "hostile_get-env", json!({"key": "GRANTED_KEY"})).await;
    assert_eq!(
        value.structured_content,
        Some(json!({"result": "granted-value"}))
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_offered_policy_weld_refuses_stops_the_install() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("hostile.wasm");
    std::fs::copy(component("hostile"), &wasm).expect("copy");
    std::fs::write(dir.path().join("hostile.policy.yaml"), REFUSED_POLICY).expect("write");
    let added = dirs
        .run(&["add", &wasm.display().to_string(), "--accept-policy"])
        .await;
    assert!(!added.status.success());
    let stderr = String::from_utf8_lossy(&added.stderr);
    assert!(stderr.contains("wasi:cli/environment"), "{stderr}");
    assert!(
        !dirs.state.join("index.json").exists(),
        "nothing may be installed"
    );
}
