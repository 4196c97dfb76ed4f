//! Many installed components: listed from the descriptions kept beside
//! their compiled artefacts without loading their code, loaded by their
//! first call (once, however many calls arrive together), disabled with
//! the reason when that load fails; tool definitions derived by a start
//! kept for the next; and `tools/list` in pages.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rmcp::ClientServiceExt;
use rmcp::model::{CallToolRequestParams, PaginatedRequestParams};
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use crate::common::{
    Client, Dirs, call, component, http_client, http_server, legacy, stdio_client, text, weld_ok,
};

/// The tools of the `text` example, by their function names.
const TEXT_TOOLS: [&str; 6] = [
    "convert-case",
    "find-all",
    "json-pointer",
    "slugify",
    "word-count",
    "wrap",
];

/// Installs the `text` example under each of `names`.
async fn install_text(dirs: &Dirs, names: &[&str]) {
    let file = component("text").display().to_string();
    for name in names {
        weld_ok(dirs, &["add", &file, "--name", name]).await;
    }
}

/// The files the compile cache keeps with `ext` (`cwasm`, `mac`, `desc`).
fn cached(dirs: &Dirs, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let compiled = dirs.cache.join("compiled");
    for engine in std::fs::read_dir(&compiled).expect("compiled/") {
        let engine = engine.expect("entry").path();
        for file in std::fs::read_dir(&engine).expect("engine dir") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == ext) {
                found.push(file);
            }
        }
    }
    found
}

/// Removes every compiled artefact (and its MAC), keeping descriptions.
fn remove_artefacts(dirs: &Dirs) {
    let artefacts = cached(dirs, "cwasm");
    assert!(!artefacts.is_empty(), "weld add compiled the component");
    for file in artefacts.into_iter().chain(cached(dirs, "mac")) {
        std::fs::remove_file(file).expect("remove artefact");
    }
}

async fn tool_names(client: &Client) -> BTreeSet<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

/// `weld serve ARGS` over stdio with its log (at `info`) in `log`.
async fn logged_client(dirs: &Dirs, args: &[&str], log: &std::path::Path) -> Client {
    let mut cmd = dirs.weld();
    cmd.arg("serve").args(args).env("WELD_LOG", "info");
    let file = std::fs::File::create(log).expect("log file");
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn weld serve")
        .0;
    ().serve_with_lifecycle(transport, legacy())
        .await
        .expect("MCP session over stdio")
}

#[tokio::test]
async fn installed_components_are_listed_without_loading_their_code() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0", "t1", "t2"]).await;
    assert_eq!(cached(&dirs, "desc").len(), 1, "one description per digest");
    remove_artefacts(&dirs);

    let client = stdio_client(&dirs, &[], legacy()).await;
    let names = tool_names(&client).await;
    for component in ["t0", "t1", "t2"] {
        for tool in TEXT_TOOLS {
            let name = format!("{component}_{tool}");
            assert!(names.contains(&name), "{name} not listed: {names:?}");
        }
    }
    // Listing loaded nothing: loading would have compiled the component
    // again, and stored its artefact.
    assert!(
        cached(&dirs, "cwasm").is_empty(),
        "listing compiled the component"
    );

    // Its first call compiles and loads it, and works.
    let slug = call(&client, "t1_slugify", json!({"text": "Hello, World"})).await;
    assert_ne!(slug.is_error, Some(true), "{}", text(&slug));
    assert_eq!(
        slug.structured_content,
        Some(json!({"result": "hello-world"}))
    );
    assert_eq!(
        cached(&dirs, "cwasm").len(),
        1,
        "the first call compiled it"
    );
    let again = call(&client, "t1_slugify", json!({"text": "Again"})).await;
    assert_ne!(again.is_error, Some(true), "{}", text(&again));
    client.cancel().await.expect("close");
    // The wait for the code is the load's, apart from the queue's: only
    // the first call had one, and it is not counted as queueing (the load
    // compiled the component, which takes far longer than taking a free
    // slot).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let waits = loop {
        let waits: Vec<(Option<u64>, Option<u64>)> = crate::common::audit_lines(&dirs)
            .iter()
            .filter(|r| r["tool"] == "t1_slugify")
            .map(|r| {
                let us = |key: &str| r.get(key).and_then(serde_json::Value::as_u64);
                (us("load_us"), us("queued_us"))
            })
            .collect();
        if waits.len() >= 2 || std::time::Instant::now() > deadline {
            break waits;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(
            waits.as_slice(),
            [(Some(load), Some(queued)), (None, Some(_))] if *load > 0 && queued < load
        ),
        "(load_us, queued_us) of the two calls: {waits:?}"
    );
}

#[tokio::test]
async fn concurrent_first_calls_load_a_component_once() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0"]).await;
    let log = dirs.state.with_file_name("serve.log");
    let client = logged_client(&dirs, &[], &log).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..8 {
        let peer = client.peer().clone();
        calls.spawn(async move {
            let mut params = CallToolRequestParams::new("t0_slugify");
            params.arguments = crate::common::args(json!({"text": format!("Call {i}")}));
            (i, peer.call_tool(params).await.expect("tools/call"))
        });
    }
    while let Some(done) = calls.join_next().await {
        let (i, result) = done.expect("call task");
        assert_eq!(
            result.structured_content,
            Some(json!({"result": format!("call-{i}")})),
            "{}",
            text(&result)
        );
    }
    client.cancel().await.expect("close");
    let log = std::fs::read_to_string(&log).expect("log");
    let loads = log
        .lines()
        .filter(|l| l.contains("loading the component for its first call"))
        .count();
    assert_eq!(loads, 1, "{log}");
}

#[tokio::test]
async fn a_component_whose_code_cannot_be_loaded_fails_its_first_call_and_is_then_disabled() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0", "t1"]).await;
    remove_artefacts(&dirs);
    // Without its artefact or its blob, nothing can be loaded.
    let blobs = dirs.state.join("blobs/sha256");
    for blob in std::fs::read_dir(&blobs).expect("blobs") {
        std::fs::remove_file(blob.expect("entry").path()).expect("remove blob");
    }
    let client = stdio_client(&dirs, &[], legacy()).await;
    assert!(tool_names(&client).await.contains("t0_slugify"));

    let failed = call(&client, "t0_slugify", json!({"text": "x"})).await;
    assert_eq!(failed.is_error, Some(true));
    let message = text(&failed);
    assert!(
        message.contains("component `t0` (")
            && message.contains("could not be loaded")
            && message.contains("is missing or damaged in the store")
            && message.contains("reinstall the component with `weld add`"),
        "{message}"
    );

    // The watcher lists it as disabled, with the reason, and stops
    // offering its tools; the other component stays listed.
    let mut listed = true;
    for _ in 0..100 {
        let names = tool_names(&client).await;
        assert!(names.contains("t1_slugify"), "{names:?}");
        listed = names.contains("t0_slugify");
        if !listed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!listed, "t0's tools are still listed after its load failed");
    let components = call(&client, "weld_list_components", json!({})).await;
    let components = components.structured_content.expect("structured");
    let disabled = components.to_string();
    assert!(
        disabled.contains("could not be loaded") && disabled.contains("t0"),
        "{disabled}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_description_weld_did_not_write_is_not_trusted() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0"]).await;
    let descriptions = cached(&dirs, "desc");
    let [description] = descriptions.as_slice() else {
        panic!("one description: {descriptions:?}");
    };
    // Rename a function inside the MAC'd description, keeping the MAC and
    // the layout (a name of the same length): a tool listed from it would
    // be `t0_planted`.
    let bytes = std::fs::read(description).expect("read");
    let at = bytes
        .windows(7)
        .position(|w| w == b"slugify")
        .expect("the name is in the file");
    let mut planted = bytes.clone();
    planted[at..at + 7].copy_from_slice(b"planted");
    std::fs::write(description, &planted).expect("write");

    let client = stdio_client(&dirs, &[], legacy()).await;
    let names = tool_names(&client).await;
    assert!(names.contains("t0_slugify"), "{names:?}");
    assert!(!names.contains("t0_planted"), "{names:?}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn tools_list_pages_round_trip_the_full_list() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0", "t1", "t2"]).await;
    let whole = stdio_client(&dirs, &[], legacy()).await;
    let first = whole
        .list_tools(None)
        .await
        .expect("tools/list without a cursor");
    assert_eq!(first.next_cursor, None, "a short list is sent whole");
    let expected: BTreeSet<String> = first.tools.iter().map(|t| t.name.to_string()).collect();
    // 18 tools of the components, and the built-in ones.
    assert!(expected.len() > 18, "{expected:?}");
    whole.cancel().await.expect("close");

    let paged = stdio_client(&dirs, &["--tools-page-size", "5"], legacy()).await;
    let mut cursor = None;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let page = paged
            .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
            .await
            .expect("tools/list page");
        assert!(
            page.tools.len() <= 5,
            "{} tools in a page",
            page.tools.len()
        );
        names.extend(page.tools.into_iter().map(|t| t.name.to_string()));
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, expected.len().div_ceil(5));
    assert_eq!(names.len(), expected.len(), "no tool twice: {names:?}");
    assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        tool_names(&paged).await,
        expected,
        "rmcp's list_all_tools follows the cursors"
    );

    let bad = paged
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("not-a-cursor".into())),
        ))
        .await;
    assert!(bad.is_err(), "an unknown cursor is refused: {bad:?}");
    paged.cancel().await.expect("close");
}

/// Over stdio a page is written from the definitions' text as held, not
/// through rmcp's typed values (see weld-mcp's `spliced`); over HTTP it is
/// typed. Both carry the same tools, field for field, page by page.
#[tokio::test]
async fn a_page_written_from_held_text_over_stdio_equals_the_typed_page_over_http() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0", "t1"]).await;
    let args = ["--tools-page-size", "5"];
    let stdio = stdio_client(&dirs, &args, legacy()).await;
    let (mut server, addr) = http_server(&dirs, &args).await;
    let http = http_client(addr, legacy()).await;
    let mut cursor = None;
    let mut compared = 0;
    loop {
        let params = || Some(PaginatedRequestParams::default().with_cursor(cursor.clone()));
        let spliced = stdio.list_tools(params()).await.expect("stdio page");
        let typed = http.list_tools(params()).await.expect("HTTP page");
        assert_eq!(spliced.tools, typed.tools, "the page at {cursor:?}");
        assert_eq!(spliced.next_cursor, typed.next_cursor);
        compared += spliced.tools.len();
        match spliced.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // The components' 12 tools (with output schemas, and descriptions
    // with quotes and line breaks) and the built-in ones.
    assert!(compared > 12, "{compared} tools");
    let slugify = stdio
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .find(|t| t.name == "t1_slugify")
        .expect("t1_slugify listed");
    assert!(slugify.output_schema.is_some(), "{slugify:?}");
    assert!(
        slugify
            .description
            .as_deref()
            .is_some_and(|d| d.contains('\n'))
    );
    stdio.cancel().await.expect("close");
    http.cancel().await.expect("close");
    server.kill().await.expect("stop weld");
}

/// The description `text` of `tool`'s parameter `param`, as listed.
async fn param_doc(client: &Client, tool: &str, param: &str) -> Option<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    let tool = tools.iter().find(|t| t.name == tool)?;
    tool.input_schema
        .get("properties")?
        .get(param)?
        .get("description")?
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn definitions_a_start_had_to_derive_are_kept_for_the_next_start() {
    let dirs = Dirs::new();
    install_text(&dirs, &["t0"]).await;
    let listed_at_add = {
        let client = stdio_client(&dirs, &[], legacy()).await;
        let doc = param_doc(&client, "t0_slugify", "text").await;
        client.cancel().await.expect("close");
        doc
    };
    assert!(listed_at_add.is_some(), "slugify documents `text`");

    // An index written before docs were read from the component holds
    // them: read past, never used (the component's own are).
    let index_path = dirs.state.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("read index")).expect("index");
    index["components"]["t0"]["docs"] =
        json!({"slugify": {"params": {"text": "Edited in the index."}}});
    std::fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("write index");
    // A description kept without definitions, as a start that compiles a
    // component writes it: the artefacts and the description are gone,
    // so this start compiles the component again.
    remove_artefacts(&dirs);
    for description in cached(&dirs, "desc") {
        std::fs::remove_file(description).expect("remove description");
    }
    let compiling = stdio_client(&dirs, &[], legacy()).await;
    assert_eq!(
        param_doc(&compiling, "t0_slugify", "text").await,
        listed_at_add
    );
    compiling.cancel().await.expect("close");
    let descriptions = cached(&dirs, "desc");
    assert_eq!(descriptions.len(), 1, "{descriptions:?}");
    let kept_at_compile = std::fs::read(&descriptions[0]).expect("read description");

    // Listed from that description: the definitions are derived, with the
    // docs read from the component's blob, and kept beside it.
    let first = stdio_client(&dirs, &[], legacy()).await;
    assert_eq!(
        param_doc(&first, "t0_slugify", "text").await,
        listed_at_add,
        "the listing follows the component's docs, not the index's"
    );
    first.cancel().await.expect("close");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let kept_by_start = loop {
        let now = std::fs::read(&descriptions[0]).expect("read description");
        if now != kept_at_compile {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the derived definitions were never kept beside the description"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The next start reads them, and has nothing to write: the file is
    // replaced whole whenever it is written, so its inode would change.
    let inode =
        || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&descriptions[0]).expect("stat"));
    let kept_inode = inode();
    let second = stdio_client(&dirs, &[], legacy()).await;
    assert_eq!(
        param_doc(&second, "t0_slugify", "text").await,
        listed_at_add
    );
    let slug = call(&second, "t0_slugify", json!({"text": "Kept Texts"})).await;
    assert_eq!(
        slug.structured_content,
        Some(json!({"result": "kept-texts"}))
    );
    second.cancel().await.expect("close");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (
            inode(),
            std::fs::read(&descriptions[0]).expect("read description")
        ),
        (kept_inode, kept_by_start),
        "a start whose kept definitions match wrote them again"
    );
}
