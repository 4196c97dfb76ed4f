//! Single-file grants: the granted file and nothing beside it, through
//! every path and handle a guest can try; a granted file replaced by a
//! directory or a FIFO is refused at once.

use super::*;
use crate::common::*;
use serde_json::{Value, json};

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
