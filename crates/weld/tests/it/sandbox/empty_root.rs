//! The empty root: a path no grant covers reaches weld's preopen at `/`,
//! is refused there and recorded, and the tool's error names the grant that
//! would allow it. Grants keep working beside it (wasi-libc picks the
//! longest preopen), for absolute and relative paths alike; listing `/`
//! shows nothing.

use super::*;
use crate::common::*;
use serde_json::{Value, json};

/// Every storage denial recorded for `tool`, in order. Read after the
/// server has stopped, so its audit writer has drained.
fn denials(dirs: &Dirs, tool: &str) -> Vec<Value> {
    audit_lines(dirs)
        .iter()
        .filter(|r| r["tool"] == tool)
        .flat_map(|r| r["storage_denied"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn denial(op: &str, path: &str, error: &str) -> Value {
    json!({"op": op, "path": path, "error": error})
}

/// A directory to grant, holding `x`, in a private temporary directory.
struct Data {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
}

fn data() -> Data {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical").join("data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("x"), "granted text").expect("write");
    Data { _tmp: tmp, dir }
}

#[tokio::test]
async fn a_tool_without_a_storage_grant_is_refused_a_file_and_the_audit_and_its_error_name_it() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let client = serve(&dirs).await;
    for path in ["/etc/passwd", "/home/user/.ssh/id_rsa"] {
        let read = call(&client, "hostile_read-file", json!({ "path": path })).await;
        assert!(is_err(&read), "{path} was read: {}", text(&read));
        // The tool's own error, then weld's note: what was refused, and the
        // command that grants it.
        let message = text(&read);
        assert!(
            message.contains(&format!("weld denied open-at {path}"))
                && message.contains(&format!("weld grant hostile storage fs://{path}")),
            "{message}"
        );
    }
    still_serving(&client).await;
    client.cancel().await.expect("close");

    assert_eq!(
        denials(&dirs, "hostile_read-file"),
        vec![
            denial("open-at", "/etc/passwd", "no-entry"),
            denial("open-at", "/home/user/.ssh/id_rsa", "no-entry"),
        ]
    );
    // The well-behaved call touched no path, and left no denial.
    assert!(denials(&dirs, "hostile_echo").is_empty());
    let shown = dirs.run(&["audit", "--tool", "hostile_read-file"]).await;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("denied: 1 storage (first: open-at /etc/passwd: no-entry)")
            && shown.contains("open-at /home/user/.ssh/id_rsa"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_tool_granted_a_directory_reads_it_and_is_refused_and_audited_everywhere_else() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let data = data();
    let dir = data.dir.display().to_string();
    let uri = format!("fs://{dir}/**");
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &uri, "--access", "read"],
    )
    .await;
    let client = serve(&dirs).await;
    let granted = call(
        &client,
        "hostile_read-file",
        json!({"path": format!("{dir}/x")}),
    )
    .await;
    assert_eq!(
        granted.structured_content,
        Some(json!({"result": "granted text"}))
    );
    let refused = call(&client, "hostile_read-file", json!({"path": "/etc/passwd"})).await;
    assert!(is_err(&refused), "{}", text(&refused));
    assert!(
        text(&refused).contains("weld grant hostile storage fs:///etc/passwd"),
        "{}",
        text(&refused)
    );
    // Writing beside the grant is refused the same way, and creates nothing.
    let outside = data.dir.with_file_name("made.txt");
    let write = call(
        &client,
        "hostile_write-file",
        json!({"path": outside.display().to_string(), "contents": "x"}),
    )
    .await;
    assert!(is_err(&write), "{}", text(&write));
    assert!(!outside.exists());
    client.cancel().await.expect("close");

    // The granted read went to the grant: the only denial is the refused one.
    assert_eq!(
        denials(&dirs, "hostile_read-file"),
        vec![denial("open-at", "/etc/passwd", "no-entry")]
    );
    assert_eq!(
        denials(&dirs, "hostile_write-file"),
        vec![denial(
            "open-at",
            &outside.display().to_string(),
            "no-entry"
        )]
    );
}

#[tokio::test]
async fn relative_paths_resolve_from_the_root_to_the_grant_or_to_a_recorded_refusal() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let data = data();
    let dir = data.dir.display().to_string();
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &format!("fs://{dir}/**")],
    )
    .await;
    let client = serve(&dirs).await;
    // The guest's working directory is `/`: a relative path is joined to
    // it, and the longest preopen still wins.
    let relative = format!("{}/x", dir.trim_start_matches('/'));
    let granted = call(&client, "hostile_read-file", json!({ "path": relative })).await;
    assert_eq!(
        granted.structured_content,
        Some(json!({"result": "granted text"}))
    );
    for path in ["etc/passwd", "./etc/passwd"] {
        let refused = call(&client, "hostile_read-file", json!({ "path": path })).await;
        assert!(is_err(&refused), "{path}: {}", text(&refused));
    }
    client.cancel().await.expect("close");
    assert_eq!(
        denials(&dirs, "hostile_read-file"),
        vec![
            denial("open-at", "/etc/passwd", "no-entry"),
            denial("open-at", "/etc/passwd", "no-entry"),
        ]
    );
}

#[tokio::test]
async fn listing_the_root_shows_nothing_and_every_path_through_it_is_refused_and_recorded() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let data = data();
    let dir = data.dir.display().to_string();
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &format!("fs://{dir}/**")],
    )
    .await;
    let client = serve(&dirs).await;
    // `/` is there, a directory that cannot be listed: no name shows, not
    // even the grant's.
    let listed = call(&client, "hostile_list-dir", json!({"path": "/"})).await;
    assert!(is_err(&listed), "{}", text(&listed));
    let message = text(&listed);
    assert!(
        message
            .contains("weld denied read-directory /: a tool lists only a directory granted whole")
            && message.contains("weld grant hostile storage 'fs:///DIR/**'"),
        "{message}"
    );
    // Straight at wasi:filesystem, through the preopen named `/`.
    for op in ["list", "open-dir"] {
        assert_eq!(
            raw_fs(&client, "/", op, ".", "").await,
            Err("access".into()),
            "{op}"
        );
    }
    assert_eq!(raw_fs(&client, "/", "stat", ".", "").await, Ok("0".into()));
    assert_eq!(
        raw_fs(&client, "/", "hash", ".", "").await,
        raw_fs(&client, "/", "hash-self", "", "").await
    );
    for (op, path, other, error) in [
        ("read", "etc/passwd", "", "no-entry"),
        ("write", ".", "x", "not-permitted"),
        ("open-dir", "etc", "", "no-entry"),
        ("stat", "etc/passwd", "", "no-entry"),
        ("hash", "etc/passwd", "", "no-entry"),
        ("readlink", "etc", "", "no-entry"),
        ("set-times", "etc/passwd", "", "no-entry"),
        ("write", "planted.txt", "x", "no-entry"),
        ("mkdir", "planted", "", "not-permitted"),
        ("unlink", "etc/passwd", "", "not-permitted"),
        ("rmdir", "etc", "", "not-permitted"),
        ("rename", "etc/passwd", "moved", "not-permitted"),
        ("symlink", "planted", "/etc/passwd", "not-permitted"),
        ("link", "etc/passwd", "copy", "not-permitted"),
        ("touch-dir", "", "", "not-permitted"),
    ] {
        assert_eq!(
            raw_fs(&client, "/", op, path, other).await,
            Err(error.into()),
            "{op} {path}"
        );
    }
    // Its own metadata describes an empty directory, no host directory's.
    assert_eq!(
        raw_fs(&client, "/", "stat-self", "", "").await,
        Ok("links=1 size=0 mtime=none".into())
    );
    assert_eq!(
        raw_fs(&client, "/", "flags-self", "", "").await,
        Ok("read=true mutate=false".into())
    );
    // The grant is still its own preopen.
    assert_eq!(raw_fs(&client, &dir, "list", "", "").await, Ok("x".into()));
    client.cancel().await.expect("close");

    assert_eq!(
        denials(&dirs, "hostile_list-dir"),
        vec![denial("read-directory", "/", "access")]
    );
    let raw = denials(&dirs, "hostile_raw-fs");
    for expected in [
        denial("read-directory", "/", "access"),
        denial("open-at", "/", "not-permitted"),
        denial("open-at", "/etc/passwd", "no-entry"),
        denial("stat-at", "/etc/passwd", "no-entry"),
        denial("create-directory-at", "/planted", "not-permitted"),
        denial("set-times", "/", "not-permitted"),
    ] {
        assert!(raw.contains(&expected), "{expected} not in {raw:?}");
    }
}
