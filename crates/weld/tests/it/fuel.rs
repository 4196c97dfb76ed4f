//! Fuel: a policy's `resources.limits.fuel` stops a tool that works too
//! much, deterministically, on the metered engine; a cheap call under the
//! same budget goes through; a tool without a budget is unaffected; and the
//! audit log says how much fuel each metered call burned.

use crate::common::*;
use serde_json::json;

/// The hostile component's budget: far more than instantiating it and
/// echoing a word take, far less than an endless loop.
const BUDGET: u64 = 50_000_000;

fn is_err(result: &rmcp::model::CallToolResult) -> bool {
    result.is_error == Some(true)
}

#[tokio::test]
async fn a_fuel_budget_stops_an_endless_loop_lets_a_cheap_call_through_and_is_audited() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    // The same component under another name and without a policy: the
    // unmetered engine, untouched by its sibling's budget.
    let wasm = component("hostile").display().to_string();
    weld_ok(&dirs, &["add", &wasm, "--name", "plain"]).await;
    set_policy(
        &dirs,
        "hostile",
        &format!(
            "version: \"1.0\"\npermissions:\n  resources:\n    limits: {{ fuel: {BUDGET} }}\n"
        ),
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;

    let spun = call(&client, "hostile_spin", json!({})).await;
    assert!(is_err(&spun), "an endless loop cannot succeed");
    let message = text(&spun);
    assert!(
        message.contains("fuel budget of 50000000") && message.contains("resources.limits.fuel"),
        "{message}"
    );
    // The echo under the same budget, and the server after the trap.
    still_serving(&client).await;
    let plain = call(&client, "plain_echo", json!({"text": "unmetered"})).await;
    assert_eq!(
        plain.structured_content,
        Some(json!({"result": "unmetered"}))
    );
    client.cancel().await.expect("close");

    let spin = audited(&dirs, "hostile_spin", "out_of_fuel").await;
    assert_eq!(spin["fuel_used"], BUDGET);
    let echo = audited(&dirs, "hostile_echo", "ok").await;
    let used = echo["fuel_used"]
        .as_u64()
        .expect("a metered call records its fuel");
    assert!(used > 0 && used < BUDGET, "{used}");
    let plain = audited(&dirs, "plain_echo", "ok").await;
    assert!(plain.get("fuel_used").is_none(), "{plain}");

    let shown = dirs.run(&["audit", "--tool", "hostile_spin"]).await;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("out_of_fuel") && shown.contains(&format!("{BUDGET} fuel")),
        "{shown}"
    );
}

#[tokio::test]
async fn a_metered_tool_still_stops_at_its_timeout() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    set_policy(
        &dirs,
        "hostile",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { fuel: 18446744073709551615, timeout: \"200ms\" }\n",
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let spun = call(&client, "hostile_spin", json!({})).await;
    assert!(is_err(&spun));
    assert!(
        text(&spun).contains("limit and was stopped"),
        "{}",
        text(&spun)
    );
    still_serving(&client).await;
    client.cancel().await.expect("close");
    let spin = audited(&dirs, "hostile_spin", "deadline").await;
    assert!(spin["fuel_used"].is_u64(), "{spin}");
}

#[tokio::test]
async fn a_fuel_budget_set_while_serving_applies_without_a_restart() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    set_policy(
        &dirs,
        "hostile",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { timeout: \"200ms\" }\n",
    )
    .await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let unmetered = call(&client, "hostile_spin", json!({})).await;
    assert!(
        text(&unmetered).contains("limit and was stopped"),
        "{}",
        text(&unmetered)
    );
    // The running server moves the tool to the metered engine on its next
    // reload (it checks once a second); until then spin still hits the
    // 200 ms deadline.
    set_policy(
        &dirs,
        "hostile",
        &format!("version: \"1.0\"\npermissions:\n  resources:\n    limits: {{ fuel: {BUDGET}, timeout: \"10s\" }}\n"),
    )
    .await;
    let mut attempts = 0;
    loop {
        let spun = call(&client, "hostile_spin", json!({})).await;
        if text(&spun).contains("fuel budget") {
            break;
        }
        attempts += 1;
        assert!(attempts < 100, "never metered: {}", text(&spun));
    }
    still_serving(&client).await;
    client.cancel().await.expect("close");
}
