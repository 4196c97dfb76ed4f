//! What a tool can reach: nothing without a policy, exactly its grant with
//! one. Every attack is checked for failing and for leaving the disk as it
//! was; after each, the server still answers.

use crate::common::*;
use serde_json::{Value, json};

const SECRET: &str = "planted-secret-value";

/// A server for the hostile component, with a planted secret in weld's own
/// environment.
async fn serve(dirs: &Dirs) -> Client {
    // The variables are inherited by `weld serve` from this test process
    // through `Dirs::weld`, so set them on the command instead of globally.
    let mut cmd = dirs.weld();
    cmd.arg("serve")
        .env("WELD_TEST_SECRET", SECRET)
        .env("GRANTED_KEY", "granted-value");
    let transport = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn")
        .0;
    use rmcp::ClientServiceExt;
    ().serve_with_lifecycle(transport, legacy())
        .await
        .expect("session")
}

fn is_err(result: &rmcp::model::CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// A granted directory with a file, a sibling directory outside the grant
/// holding a secret, and a symlink inside the grant pointing at it.
struct Tree {
    _tmp: tempfile::TempDir,
    granted: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let granted = root.join("granted");
    let outside = root.join("outside");
    std::fs::create_dir_all(&granted).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(granted.join("notes.txt"), "hello").expect("write");
    std::fs::write(outside.join("secret.txt"), "top secret").expect("write");
    std::os::unix::fs::symlink(outside.join("secret.txt"), granted.join("link")).expect("symlink");
    Tree {
        _tmp: tmp,
        granted,
        outside,
    }
}

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let content = if meta.is_file() {
            std::fs::read(&path).expect("read")
        } else {
            Vec::new()
        };
        out.push((path.display().to_string(), content));
    }
    out.sort();
    out
}

/// The file and environment attacks, each of which must fail.
async fn attacks_fail(client: &Client, tree: &Tree) {
    let granted = tree.granted.display().to_string();
    let secret = tree.outside.join("secret.txt").display().to_string();
    let attempts = [
        ("hostile_read-file", json!({"path": "/etc/passwd"})),
        ("hostile_read-file", json!({"path": secret})),
        (
            "hostile_read-file",
            json!({"path": format!("{granted}/../outside/secret.txt")}),
        ),
        (
            "hostile_read-file",
            json!({"path": format!("{granted}/link")}),
        ),
        (
            "hostile_write-file",
            json!({"path": format!("{}/new.txt", tree.outside.display()), "contents": "x"}),
        ),
        (
            "hostile_write-file",
            json!({"path": "/tmp/weld-escape.txt", "contents": "x"}),
        ),
        ("hostile_list-dir", json!({"path": "/"})),
    ];
    for (tool, arguments) in attempts {
        let result = call(client, tool, arguments.clone()).await;
        assert!(
            is_err(&result),
            "{tool} {arguments} succeeded: {}",
            text(&result)
        );
        still_serving(client).await;
    }
    let env = call(
        client,
        "hostile_get-env",
        json!({"key": "WELD_TEST_SECRET"}),
    )
    .await;
    assert_eq!(env.structured_content, Some(json!({"result": null})));
    let keys = call(client, "hostile_env-keys", json!({})).await;
    let keys = keys.structured_content.expect("keys")["result"].clone();
    assert!(!keys.to_string().contains("WELD_TEST_SECRET"), "{keys}");
}

#[tokio::test]
async fn without_a_policy_a_tool_reaches_no_file_and_no_variable() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = tree();
    let before = (snapshot(&tree.granted), snapshot(&tree.outside));
    let client = serve(&dirs).await;
    attacks_fail(&client, &tree).await;
    let notes = format!("{}/notes.txt", tree.granted.display());
    assert!(is_err(
        &call(&client, "hostile_read-file", json!({"path": notes})).await
    ));
    let keys = call(&client, "hostile_env-keys", json!({})).await;
    assert_eq!(keys.structured_content, Some(json!({"result": []})));
    client.cancel().await.expect("close");
    assert_eq!((snapshot(&tree.granted), snapshot(&tree.outside)), before);
    assert!(!std::path::Path::new("/tmp/weld-escape.txt").exists());
}

#[tokio::test]
async fn a_read_grant_reads_its_tree_and_nothing_else() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = tree();
    let uri = format!("fs://{}/**", tree.granted.display());
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &uri, "--access", "read"],
    )
    .await;
    let before = (snapshot(&tree.granted), snapshot(&tree.outside));
    let client = serve(&dirs).await;
    let notes = format!("{}/notes.txt", tree.granted.display());
    let read = call(&client, "hostile_read-file", json!({"path": notes})).await;
    assert_eq!(read.structured_content, Some(json!({"result": "hello"})));
    let listed = call(
        &client,
        "hostile_list-dir",
        json!({"path": tree.granted.display().to_string()}),
    )
    .await;
    assert_eq!(
        listed.structured_content,
        Some(json!({"result": ["link", "notes.txt"]}))
    );
    // Read-only: no write, no create, inside the grant either.
    let write = call(
        &client,
        "hostile_write-file",
        json!({"path": notes, "contents": "changed"}),
    )
    .await;
    assert!(is_err(&write), "{}", text(&write));
    let create = format!("{}/new.txt", tree.granted.display());
    assert!(is_err(
        &call(
            &client,
            "hostile_write-file",
            json!({"path": create, "contents": "x"})
        )
        .await
    ));
    attacks_fail(&client, &tree).await;
    client.cancel().await.expect("close");
    assert_eq!((snapshot(&tree.granted), snapshot(&tree.outside)), before);
}

#[tokio::test]
async fn a_read_write_grant_writes_inside_its_tree_only() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = tree();
    let uri = format!("fs://{}/**", tree.granted.display());
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "storage",
            &uri,
            "--access",
            "read,write",
        ],
    )
    .await;
    let outside_before = snapshot(&tree.outside);
    let client = serve(&dirs).await;
    let created = format!("{}/made.txt", tree.granted.display());
    let write = call(
        &client,
        "hostile_write-file",
        json!({"path": created, "contents": "made"}),
    )
    .await;
    assert!(!is_err(&write), "{}", text(&write));
    assert_eq!(
        std::fs::read_to_string(tree.granted.join("made.txt")).expect("written"),
        "made"
    );
    // Writing through the symlink must not reach the file it points to.
    let via_link = format!("{}/link", tree.granted.display());
    assert!(is_err(
        &call(
            &client,
            "hostile_write-file",
            json!({"path": via_link, "contents": "pwned"})
        )
        .await
    ));
    // Straight at wasi:filesystem: nothing leads out of the preopen, and a
    // symlink the tool makes itself does not either.
    let granted = tree.granted.display().to_string();
    // A whole directory is what it is: its metadata and flags are real.
    let stat = raw_fs(&client, &granted, "stat-self", "", "")
        .await
        .expect("stat");
    assert!(!stat.contains("mtime=none"), "{stat}");
    assert_eq!(
        raw_fs(&client, &granted, "flags-self", "", "").await,
        Ok("read=true mutate=true".into())
    );
    let _ = raw_fs(&client, &granted, "symlink", "planted", "/etc/passwd").await;
    let _ = raw_fs(
        &client,
        &granted,
        "symlink",
        "planted2",
        "../outside/secret.txt",
    )
    .await;
    for (op, path, other) in [
        ("read-follow", "../outside/secret.txt", ""),
        ("read-follow", "/etc/passwd", ""),
        ("read-follow", "link", ""),
        ("read-follow", "planted", ""),
        ("read-follow", "planted2", ""),
        ("open-dir", "..", ""),
        ("write", "../outside/new.txt", "x"),
        ("rename", "notes.txt", "../outside/stolen.txt"),
        ("link", "notes.txt", "../outside/linked.txt"),
    ] {
        assert!(
            raw_fs(&client, &granted, op, path, other).await.is_err(),
            "{op} {path} {other}"
        );
    }
    attacks_fail(&client, &tree).await;
    client.cancel().await.expect("close");
    assert_eq!(snapshot(&tree.outside), outside_before);
}

/// A directory holding a granted file, a granted writable file, an
/// ungranted sibling, a subdirectory and a symlink to a secret outside.
struct Notes {
    _tmp: tempfile::TempDir,
    notes: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn notes() -> Notes {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let notes = root.join("notes");
    let outside = root.join("outside");
    std::fs::create_dir_all(notes.join("sub")).expect("mkdir");
    std::fs::create_dir_all(notes.join("empty")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(notes.join("todo.md"), "todo").expect("write");
    std::fs::write(notes.join("log.md"), "log").expect("write");
    std::fs::write(notes.join("diary.md"), "dear diary").expect("write");
    std::fs::write(notes.join("sub/inner.txt"), "inner").expect("write");
    std::fs::create_dir_all(root.join("work")).expect("mkdir");
    std::fs::write(root.join("work/draft.md"), "draft").expect("write");
    std::fs::write(outside.join("secret.txt"), "top secret").expect("write");
    std::os::unix::fs::symlink(outside.join("secret.txt"), notes.join("escape")).expect("symlink");
    Notes {
        _tmp: tmp,
        notes,
        outside,
    }
}

/// What `raw-fs` answers: the text, or `Err(code)`.
async fn raw_fs(
    client: &Client,
    preopen: &str,
    op: &str,
    path: &str,
    other: &str,
) -> Result<String, String> {
    let result = call(
        client,
        "hostile_raw-fs",
        json!({"preopen": preopen, "op": op, "path": path, "other": other}),
    )
    .await;
    // A `result` export: its `ok` is the structured result, its `err` the
    // text of a tool error.
    if is_err(&result) {
        return Err(text(&result));
    }
    match result.structured_content {
        Some(Value::Object(mut map)) => match map.remove("result") {
            Some(Value::String(ok)) => Ok(ok),
            other => panic!("raw-fs {op} {path}: unexpected result {other:?}"),
        },
        other => panic!("raw-fs {op} {path}: unexpected result {other:?}"),
    }
}

#[tokio::test]
async fn a_single_file_grant_reaches_that_file_and_nothing_beside_it() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = notes();
    let dir = tree.notes.display().to_string();
    let todo = format!("fs://{dir}/todo.md");
    let log = format!("fs://{dir}/log.md");
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &todo, "--access", "read"],
    )
    .await;
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "storage",
            &log,
            "--access",
            "read,write",
        ],
    )
    .await;
    let work = tree.notes.parent().expect("root").join("work");
    let work_uri = format!("fs://{}/**", work.display());
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "storage",
            &work_uri,
            "--access",
            "read,write",
        ],
    )
    .await;
    let work_before = snapshot(&work);
    let work = work.display().to_string();
    let notes_before = snapshot(&tree.notes);
    let outside_before = snapshot(&tree.outside);
    let client = serve(&dirs).await;

    // Through the language's file API (wasi-libc resolves the paths).
    let read = call(
        &client,
        "hostile_read-file",
        json!({"path": format!("{dir}/todo.md")}),
    )
    .await;
    assert_eq!(read.structured_content, Some(json!({"result": "todo"})));
    let write = call(
        &client,
        "hostile_write-file",
        json!({"path": format!("{dir}/log.md"), "contents": "new log"}),
    )
    .await;
    assert!(!is_err(&write), "{}", text(&write));
    let refused = [
        (
            "hostile_write-file",
            json!({"path": format!("{dir}/todo.md"), "contents": "x"}),
        ),
        (
            "hostile_read-file",
            json!({"path": format!("{dir}/diary.md")}),
        ),
        (
            "hostile_read-file",
            json!({"path": format!("{dir}/sub/inner.txt")}),
        ),
        (
            "hostile_read-file",
            json!({"path": format!("{dir}/escape")}),
        ),
        (
            "hostile_read-file",
            json!({"path": format!("{dir}/../outside/secret.txt")}),
        ),
        (
            "hostile_write-file",
            json!({"path": format!("{dir}/new.txt"), "contents": "x"}),
        ),
        ("hostile_list-dir", json!({"path": dir})),
    ];
    for (tool, arguments) in refused {
        let result = call(&client, tool, arguments.clone()).await;
        assert!(
            is_err(&result),
            "{tool} {arguments} succeeded: {}",
            text(&result)
        );
        still_serving(&client).await;
    }

    // Straight at wasi:filesystem, with paths no libc would produce.
    assert_eq!(
        raw_fs(&client, &dir, "read", "todo.md", "").await,
        Ok("todo".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "read", "./todo.md", "").await,
        Ok("todo".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "read-follow", "todo.md", "").await,
        Ok("todo".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "stat", "todo.md", "").await,
        Ok("4".into())
    );
    // The sibling exists on disk; for the tool it does not.
    assert_eq!(
        raw_fs(&client, &dir, "read", "diary.md", "").await,
        Err("no-entry".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "stat", "diary.md", "").await,
        Err("no-entry".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "hash", "diary.md", "").await,
        Err("no-entry".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "readlink", "escape", "").await,
        Err("no-entry".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "list", "", "").await,
        Err("access".into())
    );
    for path in ["", ".", "..", "sub", "../outside", "/"] {
        assert!(
            raw_fs(&client, &dir, "open-dir", path, "").await.is_err(),
            "open-dir {path}"
        );
    }
    for path in [
        "../outside/secret.txt",
        "/etc/passwd",
        "escape",
        "sub/inner.txt",
        "todo.md/",
    ] {
        assert!(
            raw_fs(&client, &dir, "read-follow", path, "")
                .await
                .is_err(),
            "read {path}"
        );
    }
    // Read-only stays read-only, whatever the directory allows for log.md.
    assert_eq!(
        raw_fs(&client, &dir, "write", "todo.md", "x").await,
        Err("not-permitted".into())
    );
    assert!(
        raw_fs(&client, &dir, "write-through-read", "todo.md", "x")
            .await
            .is_err()
    );
    // The view's own metadata says nothing about what else is in the
    // directory (it holds a subdirectory and other files on disk).
    assert_eq!(
        raw_fs(&client, &dir, "stat-self", "", "").await,
        Ok("links=1 size=0 mtime=none".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "flags-self", "", "").await,
        Ok("read=true mutate=false".into())
    );
    // Its metadata hash does not move when the real directory changes.
    let hash = raw_fs(&client, &dir, "hash-self", "", "")
        .await
        .expect("hash");
    std::fs::write(tree.notes.join("host.tmp"), "x").expect("write");
    assert_eq!(raw_fs(&client, &dir, "hash-self", "", "").await, Ok(hash));
    std::fs::remove_file(tree.notes.join("host.tmp")).expect("remove");
    // Nothing moves in from a writable tree, or out to one.
    for (op, from, path, to) in [
        ("rename-into", &work, "draft.md", format!("{dir}|stolen.md")),
        ("link-into", &work, "draft.md", format!("{dir}|linked.md")),
        ("rename-into", &dir, "log.md", format!("{work}|log.md")),
        ("link-into", &dir, "todo.md", format!("{work}|todo.md")),
    ] {
        assert_eq!(
            raw_fs(&client, from, op, path, &to).await,
            Err("not-permitted".into()),
            "{op} {from}/{path} -> {to}"
        );
    }
    // The file's own handle is read-only too: its times cannot be set (the
    // OS would let the owner do that through a read-only descriptor).
    assert_eq!(
        raw_fs(&client, &dir, "touch-through-read", "todo.md", "").await,
        Err("not-permitted".into())
    );
    assert_eq!(
        raw_fs(&client, &dir, "set-times", "todo.md", "").await,
        Err("not-permitted".into())
    );
    // The directory's entries cannot change, even beside a writable file.
    for (op, path, other) in [
        ("mkdir", "made", ""),
        ("rmdir", "empty", ""),
        ("touch-dir", "", ""),
        ("unlink", "log.md", ""),
        ("unlink", "diary.md", ""),
        ("rename", "log.md", "moved.md"),
        ("symlink", "link2", "../outside/secret.txt"),
        ("link", "log.md", "copy.md"),
        ("write", "created.md", "x"),
    ] {
        assert_eq!(
            raw_fs(&client, &dir, op, path, other).await.map_err(|_| ()),
            Err(()),
            "{op} {path} {other}"
        );
    }
    assert_eq!(
        raw_fs(&client, &dir, "write", "log.md", "raw log").await,
        Ok("written".into())
    );
    client.cancel().await.expect("close");

    // Each refusal weld decided is in the audit log, with the path as the
    // tool named it and the error it got.
    let denied: Vec<Value> = audit_lines(&dirs)
        .iter()
        .flat_map(|r| r["storage_denied"].as_array().cloned().unwrap_or_default())
        .collect();
    for (op, path, error) in [
        ("open-at", format!("{dir}/diary.md"), "no-entry"),
        ("open-at", format!("{dir}/todo.md"), "not-permitted"),
        ("stat-at", format!("{dir}/diary.md"), "no-entry"),
        ("metadata-hash-at", format!("{dir}/diary.md"), "no-entry"),
        ("readlink-at", format!("{dir}/escape"), "no-entry"),
        ("set-times-at", format!("{dir}/todo.md"), "not-permitted"),
        (
            "create-directory-at",
            format!("{dir}/made"),
            "not-permitted",
        ),
        (
            "remove-directory-at",
            format!("{dir}/empty"),
            "not-permitted",
        ),
        ("symlink-at", format!("{dir}/link2"), "not-permitted"),
        ("link-at", format!("{dir}/log.md"), "not-permitted"),
        ("read-directory", dir.clone(), "access"),
        ("rename-at", format!("{dir}/stolen.md"), "not-permitted"),
        ("link-at", format!("{dir}/linked.md"), "not-permitted"),
        ("set-times", dir.clone(), "not-permitted"),
        ("unlink-file-at", format!("{dir}/log.md"), "not-permitted"),
        ("rename-at", format!("{dir}/log.md"), "not-permitted"),
    ] {
        let expected = json!({"op": op, "path": path, "error": error});
        assert!(denied.contains(&expected), "{expected} not in {denied:?}");
    }
    let text = dirs.run(&["audit", "--tool", "hostile_raw-fs"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("denied: 1 storage"), "{text}");

    // Only log.md changed, and only its content.
    let mut expected = notes_before;
    for (path, content) in &mut expected {
        if path.ends_with("/log.md") {
            *content = b"raw log".to_vec();
        }
    }
    assert_eq!(snapshot(&tree.notes), expected);
    assert_eq!(snapshot(&tree.outside), outside_before);
    assert_eq!(snapshot(std::path::Path::new(&work)), work_before);
}

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

#[tokio::test]
async fn a_granted_directory_swapped_for_a_symlink_after_load_is_not_followed() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    for (path, text) in [
        ("notes/todo.md", "todo"),
        ("tree/x.txt", "x"),
        ("secret/todo.md", "SECRET todo"),
        ("secret/x.txt", "SECRET x"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let todo = format!("{}/notes/todo.md", root.display());
    let x = format!("{}/tree/x.txt", root.display());
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "storage",
            &format!("fs://{todo}"),
            "--access",
            "read",
        ],
    )
    .await;
    let tree = format!("fs://{}/tree/**", root.display());
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &tree, "--access", "read"],
    )
    .await;
    let client = serve(&dirs).await;
    let read = |path: &str| call(&client, "hostile_read-file", json!({"path": path}));
    assert_eq!(
        read(&todo).await.structured_content,
        Some(json!({"result": "todo"}))
    );
    assert_eq!(
        read(&x).await.structured_content,
        Some(json!({"result": "x"}))
    );

    // What another tool with write access to `root` (or any process) could
    // do: make both granted paths lead to the secret directory.
    for name in ["notes", "tree"] {
        std::fs::rename(root.join(name), root.join(format!("{name}.old"))).expect("rename");
        std::os::unix::fs::symlink("secret", root.join(name)).expect("symlink");
    }
    for path in [&todo, &x] {
        let result = read(path).await;
        assert!(is_err(&result), "{path} read through the planted symlink");
        assert!(
            text(&result).contains("was replaced after weld checked it")
                && text(&result).contains("weld grant")
                && text(&result).contains("weld revoke"),
            "{}",
            text(&result)
        );
        still_serving(&client).await;
    }
    client.cancel().await.expect("close");
    assert!(
        audit_lines(&dirs)
            .iter()
            .any(|r| r["outcome"] == "grant_moved"),
        "no grant_moved record"
    );
}

#[tokio::test]
async fn a_granted_file_replaced_by_a_directory_or_a_fifo_is_refused_at_once() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    std::fs::write(root.join("todo.md"), "todo").expect("write");
    let todo = format!("{}/todo.md", root.display());
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs://{todo}\"\n        access: [read]\n  resources:\n    limits: {{ timeout: \"10m\" }}\n"
    );
    let file = dirs.state.join("p.yaml");
    std::fs::write(&file, policy).expect("write policy");
    weld_ok(
        &dirs,
        &["policy", "set", "hostile", &file.display().to_string()],
    )
    .await;
    let client = serve(&dirs).await;
    let read = |path: String| call(&client, "hostile_read-file", json!({"path": path}));
    assert_eq!(
        read(todo.clone()).await.structured_content,
        Some(json!({"result": "todo"}))
    );

    std::fs::remove_file(&todo).expect("remove");
    std::fs::create_dir(&todo).expect("mkdir");
    std::fs::write(root.join("todo.md/inside.txt"), "inside").expect("write");
    assert!(is_err(&read(todo.clone()).await));
    assert!(is_err(&read(format!("{todo}/inside.txt")).await));

    // A FIFO would block the open until a writer came; with a ten-minute
    // timeout, only the refusal can end this call.
    std::fs::remove_dir_all(&todo).expect("rmdir");
    let made = std::process::Command::new("mkfifo")
        .arg(&todo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let fifo = read(todo.clone()).await;
    assert!(is_err(&fifo), "{}", text(&fifo));
    still_serving(&client).await;
    client.cancel().await.expect("close");
}
