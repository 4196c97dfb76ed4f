//! What a person approves is what is granted, and stays so: storage grants
//! are shown and bound by the real path they resolve to, pinned to it when
//! granted, never re-resolved by a reload or a restart, and a grant that can
//! no longer be honoured disables its component alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::manage::{Answer, Person, answer, ask, call_on, serve_with};

/// A scratch tree for one test: `work/` (the tool may write it) and
/// `home/.ssh/id` (a secret it must never read), at real paths.
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("work")).expect("mkdir");
        std::fs::create_dir_all(root.join("home/.ssh")).expect("mkdir");
        std::fs::write(root.join("home/.ssh/id"), "PRIVATE KEY").expect("write");
        std::fs::create_dir_all(root.join("data")).expect("mkdir");
        std::fs::write(root.join("data/notes.txt"), "hello").expect("write");
        Self { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn tree_uri(&self, rel: &str) -> String {
        format!("fs://{}/**", self.path(rel).display())
    }
}

fn storage_request(target: &str) -> Value {
    json!({"component": "hostile", "kind": "storage", "target": target, "access": ["read"]})
}

fn policy_text(dirs: &Dirs) -> String {
    std::fs::read_to_string(dirs.state.join("policies/hostile.yaml")).unwrap_or_default()
}

async fn read_file<H: rmcp::ClientHandler>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, H>,
    path: &Path,
) -> rmcp::model::CallToolResult {
    call_on(
        client,
        "hostile_read-file",
        json!({"path": path.display().to_string()}),
    )
    .await
}

/// Waits for the served tool list to contain (or not) a hostile tool: the
/// server reloads a changed state within about a second.
async fn hostile_served<H: rmcp::ClientHandler>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, H>,
    wanted: bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let tools = client.list_all_tools().await.expect("tools/list");
        if tools.iter().any(|t| t.name == "hostile_echo") == wanted {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn a_grant_through_a_symlink_the_tool_planted_is_refused_naming_where_it_leads() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = Tree::new();
    let work = tree.path("work");
    weld_ok(
        &dirs,
        &[
            "grant",
            "hostile",
            "storage",
            &tree.tree_uri("work"),
            "--access",
            "read,write",
        ],
    )
    .await;
    let person = Person::new(Answer::Approve);
    let client = serve_with(&dirs, &[], person.clone(), legacy()).await;
    // The tool plants `work/docs -> ../home/.ssh` in the directory it may
    // write: a harmless-looking subfolder.
    let planted = call_on(
        &client,
        "hostile_raw-fs",
        json!({"preopen": work.display().to_string(), "op": "symlink", "path": "docs", "other": "../home/.ssh"}),
    )
    .await;
    assert_eq!(
        planted.structured_content,
        Some(json!({"result": "linked"})),
        "{}",
        text(&planted)
    );
    let asked = call_on(
        &client,
        "weld_request_grant",
        storage_request(&tree.tree_uri("work/docs")),
    )
    .await;
    assert_eq!(asked.is_error, Some(true), "{}", text(&asked));
    let real = tree.path("home/.ssh").display().to_string();
    assert!(
        text(&asked).contains(&format!("leads through a symlink to {real}")),
        "{}",
        text(&asked)
    );
    assert!(person.shown().is_empty(), "asked: {:?}", person.shown());
    assert!(
        !policy_text(&dirs).contains("docs"),
        "{}",
        policy_text(&dirs)
    );
    let key = read_file(&client, &tree.path("work/docs/id")).await;
    assert_eq!(key.is_error, Some(true), "{}", text(&key));
    client.cancel().await.expect("close");

    // The same from the command line, where a person may paste what a model
    // suggested.
    let output = dirs
        .run(&["grant", "hostile", "storage", &tree.tree_uri("work/docs")])
        .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "granted: {stderr}");
    assert!(
        stderr.contains(&format!("leads through a symlink to {real}"))
            && stderr.contains(&format!("fs://{real}/**")),
        "{stderr}"
    );
    assert!(!policy_text(&dirs).contains("docs"));
}

#[tokio::test]
async fn an_approval_shows_the_real_path_and_the_base_directory_and_audits_it() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = Tree::new();
    let base = tree.root.display().to_string();
    let person = Person::new(Answer::Approve);
    let client = serve_with(&dirs, &["--base-dir", &base], person.clone(), legacy()).await;
    let granted = call_on(
        &client,
        "weld_request_grant",
        storage_request("fs://./data/**"),
    )
    .await;
    assert_eq!(granted.is_error, Some(false), "{}", text(&granted));
    let shown = person.shown();
    assert_eq!(shown.len(), 1, "{shown:?}");
    let real = tree.path("data").display().to_string();
    for expected in [
        format!("the directory {real} and below it"),
        format!("relative to weld's base directory {base}"),
        format!("path={real}"),
    ] {
        assert!(
            shown[0].contains(&expected),
            "{expected} not in {}",
            shown[0]
        );
    }
    let record = audited(&dirs, "weld_request_grant", "applied").await;
    assert!(
        record["change"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("path={real}"))),
        "{record}"
    );
    let read = read_file(&client, &tree.path("data/notes.txt")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut read = read;
    while read.is_error == Some(true) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        read = read_file(&client, &tree.path("data/notes.txt")).await;
    }
    assert_eq!(read.structured_content, Some(json!({"result": "hello"})));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn without_a_base_directory_a_relative_grant_over_mcp_is_refused_before_anyone_is_asked() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let person = Person::new(Answer::Approve);
    let client = serve_with(&dirs, &[], person.clone(), legacy()).await;
    let asked = call_on(
        &client,
        "weld_request_grant",
        storage_request("fs://./data/**"),
    )
    .await;
    assert_eq!(asked.is_error, Some(true));
    assert!(text(&asked).contains("--base-dir"), "{}", text(&asked));
    assert!(person.shown().is_empty());
    assert_eq!(policy_text(&dirs), "");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_approval_is_void_when_the_path_leads_elsewhere_by_the_time_it_is_answered() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = Tree::new();
    let client = serve_with(&dirs, &[], Person::new(Answer::Approve), modern()).await;
    let request = storage_request(&tree.tree_uri("data"));
    let state = ask(&client, request.clone()).await;
    // Between the question and the answer, `data` becomes a symlink to the
    // secret directory.
    std::fs::rename(tree.path("data"), tree.path("data.old")).expect("rename");
    std::os::unix::fs::symlink(tree.path("home/.ssh"), tree.path("data")).expect("symlink");
    let answered = answer(&client, request.clone(), &state).await;
    assert_eq!(answered.is_error, Some(true), "{}", text(&answered));
    assert_eq!(policy_text(&dirs), "", "nothing granted");
    // And replaced by another directory of the same name (the old one is
    // kept, so the new one cannot reuse its inode number): void too.
    std::fs::remove_file(tree.path("data")).expect("unlink");
    std::fs::create_dir(tree.path("data")).expect("mkdir");
    let state = ask(&client, request.clone()).await;
    std::fs::rename(tree.path("data"), tree.path("data.older")).expect("rename");
    std::fs::create_dir(tree.path("data")).expect("mkdir");
    let answered = answer(&client, request, &state).await;
    assert_eq!(answered.is_error, Some(true), "{}", text(&answered));
    assert!(
        text(&answered).contains("does not match"),
        "{}",
        text(&answered)
    );
    assert_eq!(policy_text(&dirs), "", "nothing granted");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_relative_grant_is_resolved_once_and_serves_from_any_directory() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = Tree::new();
    let granted = dirs
        .weld()
        .current_dir(&tree.root)
        .args(["grant", "hostile", "storage", "fs://./data/**"])
        .output()
        .await
        .expect("run weld");
    let stdout = String::from_utf8_lossy(&granted.stdout);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(
        stdout.contains(&tree.path("data").display().to_string()),
        "the grant says where it leads: {stdout}"
    );
    // An MCP client starts weld somewhere else entirely.
    let mut cmd = dirs.weld();
    cmd.current_dir("/").arg("serve");
    let transport = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn weld serve")
        .0;
    use rmcp::ClientServiceExt as _;
    let client =
        ().serve_with_lifecycle(transport, legacy())
            .await
            .expect("weld serve starts wherever it is started");
    let read = read_file(&client, &tree.path("data/notes.txt")).await;
    assert_eq!(
        read.structured_content,
        Some(json!({"result": "hello"})),
        "{}",
        text(&read)
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_granted_directory_moved_away_disables_only_its_component_until_revoked() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    weld_ok(&dirs, &["add", &component("text").display().to_string()]).await;
    let tree = Tree::new();
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &tree.tree_uri("data")],
    )
    .await;
    std::fs::rename(tree.path("data"), tree.path("elsewhere")).expect("move");

    let client = stdio_client(&dirs, &[], legacy()).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        tools.iter().any(|t| t.name.starts_with("text_")),
        "others are served"
    );
    assert!(!tools.iter().any(|t| t.name.starts_with("hostile_")));
    let listed = call(&client, "weld_list_components", json!({})).await;
    let listed = listed.structured_content.expect("structured");
    let hostile = listed["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "hostile"))
        .cloned()
        .expect("listed");
    let reason = hostile["disabled"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains(&tree.path("data").display().to_string())
            && reason.contains("no longer exists")
            && reason.contains("grant it again"),
        "{hostile}"
    );
    let list = dirs.run(&["list"]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains("DISABLED"));

    // Revoking always lands, and brings the component back.
    weld_ok(
        &dirs,
        &["revoke", "hostile", "storage", &tree.tree_uri("data")],
    )
    .await;
    assert!(hostile_served(&client, true).await, "hostile came back");
    still_serving(&client).await;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_symlink_swapped_in_after_a_grant_is_not_followed_after_a_change_or_a_restart() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tree = Tree::new();
    std::fs::create_dir_all(tree.path("work/docs")).expect("mkdir");
    std::fs::write(tree.path("work/docs/readme"), "docs").expect("write");
    weld_ok(
        &dirs,
        &["grant", "hostile", "storage", &tree.tree_uri("work/docs")],
    )
    .await;
    // Whoever can write `work/` swaps `docs` for a symlink to the secret.
    std::fs::rename(tree.path("work/docs"), tree.path("work/docs.old")).expect("rename");
    std::os::unix::fs::symlink("../home/.ssh", tree.path("work/docs")).expect("symlink");

    // An unrelated change does not re-resolve the grant: it is refused,
    // naming the moved grant.
    let output = dirs.run(&["grant", "hostile", "env", "LANG"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "granted over a moved grant");
    assert!(stderr.contains("leads through a symlink"), "{stderr}");

    // A restart does not either: the component is disabled.
    let client = stdio_client(&dirs, &[], legacy()).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(!tools.iter().any(|t| t.name.starts_with("hostile_")));
    client.cancel().await.expect("close");
    let called = dirs
        .run(&[
            "call",
            "hostile_read-file",
            &json!({"path": tree.path("work/docs/id").display().to_string()}).to_string(),
        ])
        .await;
    let stdout = String::from_utf8_lossy(&called.stdout);
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(!called.status.success());

    // Granting it again is a new decision, shown with where it leads now.
    let output = dirs
        .run(&["grant", "hostile", "storage", &tree.tree_uri("work/docs")])
        .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("leads through a symlink"));
}
