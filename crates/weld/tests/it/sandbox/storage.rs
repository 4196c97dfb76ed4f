//! Directory grants: nothing without a policy, exactly the granted tree
//! with one (read, or read and write), and a granted directory swapped for a
//! symlink after load is not followed. Every attack is checked for failing
//! and for leaving the disk as it was.

use super::*;
use crate::common::*;
use serde_json::json;

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
