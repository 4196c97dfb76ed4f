//! weld as an MCP server, driven by the rmcp client over a real pipe (stdio)
//! and a real socket (Streamable HTTP), in both protocol eras.

use std::time::Duration;

use crate::common::*;
use rmcp::ClientLifecycleMode;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

fn served_components() -> Vec<String> {
    ["add", "text", "shapes", "clock", "hostile"]
        .iter()
        .flat_map(|c| {
            [
                "--component".to_string(),
                component(c).display().to_string(),
            ]
        })
        .collect()
}

fn serve_args(extra: &[&str]) -> Vec<String> {
    let mut args = served_components();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The same conversation, whatever the transport and era.
async fn exercise(client: &Client) {
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "add_add",
        "text_slugify",
        "text_word-count",
        "shapes_version",
        "shapes_geometry_area",
        "clock_now",
        "hostile_echo",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for tool in &tools {
        assert!(
            tool.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{} has no description",
            tool.name
        );
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        if let Some(output) = &tool.output_schema {
            assert_eq!(output["type"], "object", "{}", tool.name);
        }
    }
    let add = tools.iter().find(|t| t.name == "add_add").expect("add_add");
    assert_eq!(
        add.input_schema["properties"]["a"],
        json!({"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647, "description": "The first addend."})
    );

    let sum = call(client, "add_add", json!({"a": 2, "b": 40})).await;
    assert_eq!(sum.is_error, Some(false));
    assert_eq!(sum.structured_content, Some(json!({"result": 42})));

    let stats = call(client, "text_word-count", json!({"text": "one two\nthree"})).await;
    assert_eq!(
        stats.structured_content,
        Some(json!({"words": 3, "lines": 2, "chars": 13, "bytes": 13}))
    );

    let slug = call(client, "text_slugify", json!({"text": "Hello, World!"})).await;
    assert_eq!(
        slug.structured_content,
        Some(json!({"result": "hello-world"}))
    );
    assert_eq!(text(&slug), r#"{"result":"hello-world"}"#);
}

#[tokio::test]
async fn legacy_client_over_stdio_lists_and_calls_tools() {
    let dirs = Dirs::new();
    let client = stdio_client(&dirs, &as_strs(&serve_args(&[])), legacy()).await;
    exercise(&client).await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn modern_client_over_stdio_lists_and_calls_tools() {
    let dirs = Dirs::new();
    let client = stdio_client(&dirs, &as_strs(&serve_args(&[])), modern()).await;
    exercise(&client).await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn legacy_and_modern_clients_share_one_http_endpoint() {
    let dirs = Dirs::new();
    let (_server, addr) = http_server(&dirs, &as_strs(&serve_args(&[]))).await;
    let legacy_client = http_client(addr, legacy()).await;
    let modern_client = http_client(addr, modern()).await;
    exercise(&legacy_client).await;
    exercise(&modern_client).await;
    let auto = http_client(
        addr,
        ClientLifecycleMode::Auto {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        },
    )
    .await;
    exercise(&auto).await;
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_that_name_the_parameter() {
    let dirs = Dirs::new();
    let client = stdio_client(&dirs, &as_strs(&serve_args(&[])), legacy()).await;
    let cases = [
        (json!({"a": "two", "b": 1}), "`a`"),
        (json!({"a": 1}), "`b`"),
        (json!({"a": 1, "b": 2, "c": 3}), "`c`"),
        (json!({"a": 2147483648i64, "b": 0}), "`a`"),
        (json!({"a": 1.5, "b": 0}), "`a`"),
    ];
    for (arguments, parameter) in cases {
        let result = call(&client, "add_add", arguments.clone()).await;
        assert_eq!(result.is_error, Some(true), "{arguments}");
        assert!(
            text(&result).contains(parameter),
            "{arguments}: {}",
            text(&result)
        );
    }
    let nested = call(
        &client,
        "shapes_geometry_style",
        json!({"decorations": ["bold"], "color": {"r": 1, "g": 2, "b": 300}}),
    )
    .await;
    assert_eq!(nested.is_error, Some(true));
    assert!(text(&nested).contains("color.b"), "{}", text(&nested));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_unknown_tool_is_a_protocol_error() {
    let dirs = Dirs::new();
    let client = stdio_client(&dirs, &as_strs(&serve_args(&[])), legacy()).await;
    let error = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool must fail");
    let message = error.to_string();
    assert!(message.contains("no_such_tool"), "{message}");
    // The session survives it.
    assert_eq!(
        call(&client, "add_add", json!({"a": 1, "b": 1}))
            .await
            .structured_content,
        Some(json!({"result": 2}))
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_err_result_is_a_tool_error_with_the_error_rendered() {
    let dirs = Dirs::new();
    let client = stdio_client(&dirs, &as_strs(&serve_args(&[])), legacy()).await;
    let result = call(
        &client,
        "shapes_geometry_classify",
        json!({"shape": {"circle": -1.0}}),
    )
    .await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(text(&result), r#"{"negative-radius":-1.0}"#);
    let ok = call(
        &client,
        "shapes_geometry_classify",
        json!({"shape": {"circle": 1.0}}),
    )
    .await;
    assert_eq!(ok.is_error, Some(false));
    assert!(ok.structured_content.is_some());
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn hostile_calls_fail_cleanly_and_the_server_keeps_serving() {
    let dirs = Dirs::new();
    let args = serve_args(&["--timeout", "2", "--memory-mib", "64"]);
    let client = stdio_client(&dirs, &as_strs(&args), legacy()).await;
    let attacks = [
        ("hostile_spin", json!({}), "limit"),
        (
            "hostile_allocate",
            json!({"mebibytes": 512}),
            "out of memory",
        ),
        ("hostile_panic", json!({"message": "boom"}), "boom"),
        ("hostile_recurse", json!({"depth": 100_000_000u64}), "stack"),
        ("hostile_trap", json!({}), "crashed"),
        ("hostile_exit", json!({"code": 1}), "exited"),
    ];
    for (tool, arguments, expected) in attacks {
        let result = call(&client, tool, arguments).await;
        assert_eq!(result.is_error, Some(true), "{tool}");
        assert!(
            text(&result).contains(expected),
            "{tool}: {}",
            text(&result)
        );
        let echo = call(&client, "hostile_echo", json!({"text": "still here"})).await;
        assert_eq!(
            echo.structured_content,
            Some(json!({"result": "still here"})),
            "after {tool}"
        );
    }
    // Output on the guest's stdout never reaches the MCP channel (the client
    // would have failed to parse it); the call itself succeeds.
    let printed = call(&client, "hostile_print-stdout", json!({"bytes": 200_000})).await;
    assert_eq!(printed.structured_content, Some(json!({"result": 200_000})));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_looping_tool_does_not_delay_other_calls() {
    let dirs = Dirs::new();
    let args = serve_args(&["--timeout", "60"]);
    let client = std::sync::Arc::new(stdio_client(&dirs, &as_strs(&args), legacy()).await);
    let spinning = {
        let client = std::sync::Arc::clone(&client);
        tokio::spawn(async move { call(&client, "hostile_spin", json!({})).await })
    };
    for i in 0..5 {
        let echo = call(
            &client,
            "hostile_echo",
            json!({"text": format!("call {i}")}),
        )
        .await;
        assert_eq!(
            echo.structured_content,
            Some(json!({"result": format!("call {i}")}))
        );
    }
    assert!(
        !spinning.is_finished(),
        "the spinning call cannot have finished"
    );
    spinning.abort();
}

#[tokio::test]
async fn a_cancelled_call_stops_its_instance() {
    let dirs = Dirs::new();
    // One instance slot: the echo below can only run once the spinning
    // instance is gone, and the deadline is far beyond the test's wait.
    let args = serve_args(&["--timeout", "600", "--max-instances", "1"]);
    let client = stdio_client(&dirs, &as_strs(&args), legacy()).await;
    let mut params = CallToolRequestParams::new("hostile_spin");
    params.arguments = args_object(json!({}));
    let handle = client
        .send_cancellable_request(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params)),
            Default::default(),
        )
        .await
        .expect("send spin");
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle
        .cancel(Some("test".into()))
        .await
        .expect("send notifications/cancelled");
    let echo = tokio::time::timeout(
        Duration::from_secs(30),
        call(&client, "hostile_echo", json!({"text": "freed"})),
    )
    .await
    .expect("the cancelled instance must release its slot");
    assert_eq!(echo.structured_content, Some(json!({"result": "freed"})));
    client.cancel().await.expect("close");
}

fn args_object(value: serde_json::Value) -> Option<rmcp::model::JsonObject> {
    crate::common::args(value)
}

#[tokio::test]
async fn an_oversized_stdio_request_is_refused_and_the_session_continues() {
    let dirs = Dirs::new();
    let args = serve_args(&["--max-request-bytes", "4096"]);
    for mode in [legacy(), modern()] {
        let client = stdio_client(&dirs, &as_strs(&args), mode).await;
        let mut params = CallToolRequestParams::new("hostile_echo");
        params.arguments = args_object(json!({"text": "x".repeat(10_000)}));
        let error = tokio::time::timeout(Duration::from_secs(30), client.call_tool(params))
            .await
            .expect("an oversized request must be answered, not dropped")
            .expect_err("an oversized request must be refused");
        assert!(error.to_string().contains("4096-byte limit"), "{error}");
        let echo = call(&client, "hostile_echo", json!({"text": "small"})).await;
        assert_eq!(echo.structured_content, Some(json!({"result": "small"})));
        client.cancel().await.expect("close");
    }
}
