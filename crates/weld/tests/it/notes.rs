//! The `notes` example (examples/notes): an MCP-world component installed
//! with the policy it proposes (`fs://./notes/**`, read-only, under
//! `--base-dir`) serves its directory's notes as resources, searches them,
//! hands one to the model through its prompt, and completes note names —
//! in both eras, and nothing outside its grant.

use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::json;

use crate::common::*;

/// A state with `notes` installed under its proposed policy, and the base
/// directory that holds `notes/` (two notes and a file that is not one)
/// beside `private/`.
async fn installed() -> (Dirs, tempfile::TempDir) {
    let dirs = Dirs::new();
    let base = tempfile::tempdir().expect("tempdir");
    let notes = base.path().join("notes");
    std::fs::create_dir_all(&notes).expect("mkdir");
    std::fs::write(
        notes.join("groceries.md"),
        "# Groceries\n- Coffee\n- bread\n",
    )
    .expect("write");
    std::fs::write(
        notes.join("meeting.txt"),
        "Decided: ship on Friday.\nAda brings coffee.\n",
    )
    .expect("write");
    std::fs::write(notes.join("photo.jpg"), "not a note").expect("write");
    std::fs::create_dir(base.path().join("private")).expect("mkdir");
    std::fs::write(base.path().join("private/diary.md"), "coffee, secretly\n").expect("write");
    weld_ok(
        &dirs,
        &[
            "add",
            &component("notes").display().to_string(),
            "--accept-policy",
            "--base-dir",
            &base.path().display().to_string(),
        ],
    )
    .await;
    (dirs, base)
}

async fn serve_notes(dirs: &Dirs, mode: ClientLifecycleMode) -> RunningService<RoleClient, ()> {
    let mut cmd = dirs.weld();
    cmd.arg("serve");
    let transport = TokioChildProcess::new(cmd).expect("spawn weld serve");
    ().serve_with_lifecycle(transport, mode)
        .await
        .expect("MCP session over stdio")
}

#[tokio::test]
async fn the_notes_example_serves_its_directory_as_resources_a_search_tool_a_prompt_and_completion()
{
    let (dirs, _base) = installed().await;
    for (era, mode) in [("2025-11-25", legacy()), ("2026-07-28", modern())] {
        let client = serve_notes(&dirs, mode).await;

        let resources = client.list_all_resources().await.expect("resources/list");
        let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["note://groceries.md", "note://meeting.txt"], "{era}");
        let read = client
            .read_resource(ReadResourceRequestParams::new("note://meeting.txt"))
            .await
            .expect("resources/read");
        match &read.contents[..] {
            [
                ResourceContents::TextResourceContents {
                    text, mime_type, ..
                },
            ] => {
                assert_eq!(
                    text, "Decided: ship on Friday.\nAda brings coffee.\n",
                    "{era}"
                );
                assert_eq!(mime_type.as_deref(), Some("text/plain"), "{era}");
            }
            other => panic!("{era}: {other:?}"),
        }
        let templates = client
            .list_all_resource_templates()
            .await
            .expect("resources/templates/list");
        assert_eq!(templates[0].uri_template, "note://{name}", "{era}");

        let mut search = CallToolRequestParams::new("search");
        search.arguments = args(json!({"text": "coffee"}));
        let found = client.call_tool(search).await.expect("tools/call");
        assert_eq!(found.is_error, Some(false), "{era}: {found:?}");
        assert_eq!(
            found.structured_content,
            Some(json!({
                "matches": [
                    {"note": "groceries.md", "line": 2, "text": "- Coffee"},
                    {"note": "meeting.txt", "line": 2, "text": "Ada brings coffee."}
                ],
                "truncated": false
            })),
            "{era}: the diary outside notes/ is never searched"
        );

        let prompt = client
            .get_prompt(GetPromptRequestParams::new("summarise").with_arguments(
                args(json!({"note": "meeting.txt", "length": "one-line"})).expect("object"),
            ))
            .await
            .expect("prompts/get");
        assert_eq!(prompt.messages.len(), 2, "{era}");
        let embedded = serde_json::to_value(&prompt.messages[0].content).expect("json");
        assert_eq!(
            embedded["type"], "resource",
            "{era}: the note is embedded: {embedded}"
        );
        assert_eq!(embedded["resource"]["uri"], "note://meeting.txt", "{era}");
        assert!(
            embedded["resource"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Friday")),
            "{era}: {embedded}"
        );

        let completed = client
            .complete_prompt_argument("summarise", "note", "m", None)
            .await
            .expect("completion/complete");
        assert_eq!(completed.values, ["meeting.txt"], "{era}");
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn weld_list_components_shows_what_an_mcp_server_component_offers() {
    let (dirs, _base) = installed().await;
    let client = serve_notes(&dirs, legacy()).await;
    let listed = client
        .call_tool(CallToolRequestParams::new("weld_list_components"))
        .await
        .expect("weld_list_components");
    let listed = listed.structured_content.expect("structured");
    let notes = &listed["components"][0];
    assert_eq!(notes["name"], "notes", "{listed}");
    assert_eq!(notes["tools"], json!(["search"]), "{listed}");
    assert_eq!(
        notes["resources"],
        json!(["note://groceries.md", "note://meeting.txt"]),
        "{listed}"
    );
    assert_eq!(
        notes["resource_templates"],
        json!(["note://{name}"]),
        "{listed}"
    );
    assert_eq!(notes["prompts"], json!(["summarise"]), "{listed}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn the_notes_example_reaches_nothing_outside_its_grant() {
    let (dirs, _base) = installed().await;
    let client = serve_notes(&dirs, legacy()).await;
    for uri in [
        "note://../private/diary.md",
        "note://photo.jpg/../../private/diary.md",
    ] {
        let refused = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .expect_err("refused");
        assert!(
            !format!("{refused:?}").contains("secretly"),
            "{uri}: {refused:?}"
        );
    }
    let missing = client
        .get_prompt(
            GetPromptRequestParams::new("summarise")
                .with_arguments(args(json!({"note": "nothing.md"})).expect("object")),
        )
        .await
        .expect_err("no such note");
    assert!(
        format!("{missing:?}").contains("there is no note `nothing.md`"),
        "{missing:?}"
    );
    client.cancel().await.expect("close");

    // Without its grant, it lists no note and its tool says what to grant.
    set_policy(&dirs, "notes", "version: \"1.0\"\npermissions: {}\n").await;
    let client = serve_notes(&dirs, legacy()).await;
    let listed = client.list_all_resources().await.expect("resources/list");
    assert!(listed.is_empty(), "{listed:?}");
    let mut search = CallToolRequestParams::new("search");
    search.arguments = args(json!({"text": "coffee"}));
    let refused = client.call_tool(search).await.expect_err("no directory");
    let text = format!("{refused:?}");
    assert!(text.contains("no notes directory is granted"), "{text}");
    client.cancel().await.expect("close");
}
