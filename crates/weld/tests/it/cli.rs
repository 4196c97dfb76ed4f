//! The command line: installing, listing, inspecting, calling; state that
//! survives restarts and failures.

use crate::common::*;
use std::time::Duration;

use serde_json::{Value, json};

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "weld failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn path(name: &str) -> String {
    component(name).display().to_string()
}

#[tokio::test]
async fn installed_components_are_listed_and_served_after_a_restart() {
    let dirs = Dirs::new();
    let added = dirs.run(&["add", &path("text")]).await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let added = dirs.run(&["add", &path("add"), "--name", "calc"]).await;
    assert!(added.status.success());

    let listed = stdout_json(&dirs.run(&["list", "--json"]).await);
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["calc", "text"]);
    let calc_tools = &listed[0]["tools"];
    assert_eq!(calc_tools[0]["name"], "calc_add");

    // A new process (the restart) serves what was installed.
    let client = stdio_client(&dirs, &[], legacy()).await;
    let sum = call(&client, "calc_add", json!({"a": 20, "b": 22})).await;
    assert_eq!(sum.structured_content, Some(json!({"result": 42})));
    client.cancel().await.expect("close");

    let removed = dirs.run(&["remove", "calc"]).await;
    assert!(removed.status.success());
    let listed = stdout_json(&dirs.run(&["list", "--json"]).await);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_file_that_is_not_a_component_is_refused_and_the_state_is_unchanged() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("text")]).await.status.success());
    let index = std::fs::read(dirs.state.join("index.json")).expect("index");

    let bogus = dirs.state.parent().expect("tmp").join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x0d\0\x01\0garbage").expect("write");
    let output = dirs.run(&["add", &bogus.display().to_string()]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be installed"), "{stderr}");
    assert_eq!(
        std::fs::read(dirs.state.join("index.json")).expect("index"),
        index
    );
}

#[tokio::test]
async fn installing_over_a_name_needs_force() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("add")]).await.status.success());
    let again = dirs.run(&["add", &path("text"), "--name", "add"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = dirs
        .run(&["add", &path("text"), "--name", "add", "--force"])
        .await;
    assert!(forced.status.success());
    let listed = stdout_json(&dirs.run(&["list", "--json"]).await);
    assert_eq!(listed[0]["tools"][0]["name"], "add_convert-case");
}

#[tokio::test]
async fn a_corrupt_index_stops_weld_with_an_error_naming_the_file() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("add")]).await.status.success());
    std::fs::write(dirs.state.join("index.json"), b"{\"version\": 1, \"comp").expect("write");
    for args in [vec!["list"], vec!["serve"], vec!["add", &path("text")]] {
        let output = dirs.run(&args).await;
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("index.json"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_deleted_compile_cache_is_rebuilt() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("add")]).await.status.success());
    std::fs::remove_dir_all(&dirs.cache).expect("remove cache");
    let output = dirs.run(&["call", "add_add", r#"{"a": 1, "b": 2}"#]).await;
    let result = stdout_json(&output);
    assert_eq!(result["structuredContent"], json!({"result": 3}));
}

#[tokio::test]
async fn a_corrupt_compile_cache_entry_is_recompiled() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("add")]).await.status.success());
    let artefact = walk(&dirs.cache)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a compiled artefact");
    std::fs::write(&artefact, b"not an ELF file").expect("corrupt");
    let result = stdout_json(&dirs.run(&["call", "add_add", r#"{"a": 1, "b": 2}"#]).await);
    assert_eq!(result["structuredContent"], json!({"result": 3}));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn inspect_shows_tools_schemas_and_imports_as_json() {
    let dirs = Dirs::new();
    let report = stdout_json(&dirs.run(&["inspect", &path("clock"), "--json"]).await);
    assert_eq!(report["name"], "clock");
    assert_eq!(report["loadable"], true);
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:random/random")),
        "{imports:?}"
    );
    let now = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "clock_now")
        .expect("clock_now");
    assert_eq!(now["description"], "Reads the current wall-clock time.");
    assert_eq!(now["outputSchema"]["type"], "object");
    // Inspecting installs nothing.
    assert!(!dirs.state.join("index.json").exists());
}

#[tokio::test]
async fn call_prints_the_result_a_client_would_get_and_exits_3_on_tool_errors() {
    let dirs = Dirs::new();
    let component = format!("--component={}", path("shapes"));
    let ok = dirs
        .run(&[
            "call",
            "shapes_geometry_area",
            r#"{"shape": {"circle": 1.0}}"#,
            &component,
        ])
        .await;
    let result = stdout_json(&ok);
    let area = result["structuredContent"]["result"]
        .as_f64()
        .expect("area");
    assert!((area - std::f64::consts::PI).abs() < 1e-9);

    let failed = dirs
        .run(&[
            "call",
            "shapes_geometry_classify",
            r#"{"shape": {"circle": -1.0}}"#,
            &component,
        ])
        .await;
    assert_eq!(failed.status.code(), Some(3));
    let unknown = dirs.run(&["call", "nope", "{}", &component]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("shapes_version"));
}

#[tokio::test]
async fn a_tool_without_docs_gets_a_description_naming_its_signature() {
    let dirs = Dirs::new();
    // The raw build output, before `weld docs embed`, carries no docs.
    let raw = repo_root().join("target/wasm/wasm32-wasip2/release/weld_test_add.wasm");
    assert!(
        raw.exists(),
        "{} missing: run scripts/build-components.sh",
        raw.display()
    );
    let report = stdout_json(
        &dirs
            .run(&["inspect", &raw.display().to_string(), "--json"])
            .await,
    );
    let description = report["tools"][0]["description"]
        .as_str()
        .expect("description");
    assert!(
        description.contains("add: func(a: s32, b: s32) -> s32"),
        "{description}"
    );
}

#[tokio::test]
async fn serve_exits_cleanly_when_stdin_closes() {
    let dirs = Dirs::new();
    let mut child = dirs
        .weld()
        .args(["serve", "--component", &path("add")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdin.take());
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("weld must exit once stdin closes")
        .expect("wait");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn http_serve_exits_cleanly_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let dirs = Dirs::new();
        let (mut child, _addr) = http_server(&dirs, &["--component", &path("add")]).await;
        let pid = child.id().expect("pid").to_string();
        let sent = tokio::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .expect("kill");
        assert!(sent.success());
        let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
            .await
            .expect("weld must exit on the signal")
            .expect("wait");
        assert!(status.success(), "{signal}: {status}");
    }
}

#[tokio::test]
async fn every_call_leaves_an_audit_record_without_its_arguments() {
    let dirs = Dirs::new();
    assert!(dirs.run(&["add", &path("hostile")]).await.status.success());
    let client = stdio_client(&dirs, &["--timeout", "1"], legacy()).await;
    call(&client, "hostile_echo", json!({"text": "secret-argument"})).await;
    call(&client, "hostile_echo", json!({"text": 5})).await;
    call(&client, "hostile_spin", json!({})).await;
    client.cancel().await.expect("close");
    let cli = dirs
        .run(&["call", "hostile_panic", r#"{"message": "boom"}"#])
        .await;
    assert_eq!(cli.status.code(), Some(3));

    let output = dirs.run(&["audit", "--json"]).await;
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("secret-argument"),
        "arguments must not be recorded: {text}"
    );
    // The install that set the test up is audited too; the calls follow it.
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|r| r["tool"] != "weld add")
        .collect();
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, ["ok", "invalid_arguments", "deadline", "panic"]);
    assert!(records[0]["args_bytes"].as_u64().expect("size") > 10);
    assert!(records[0]["peak_memory"].as_u64().expect("memory") > 0);
    assert_eq!(records[3]["client"], "weld-cli");
    assert!(records.iter().all(|r| {
        r["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    }));

    let filtered = dirs
        .run(&["audit", "--json", "--outcome", "deadline"])
        .await;
    assert_eq!(String::from_utf8_lossy(&filtered.stdout).lines().count(), 1);
}

#[tokio::test]
async fn policy_validate_prints_the_canonical_form_or_errors_with_line_and_column() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: GITHUB_TOKEN\n",
    )
    .expect("write");
    let ok = dirs
        .run(&["policy", "validate", &good.display().to_string()])
        .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("GITHUB_TOKEN"));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs:///tmp/*.md\"\n        access: [read]\n").expect("write");
    let refused = dirs
        .run(&["policy", "validate", &bad.display().to_string()])
        .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bad.yaml:5:"), "{stderr}");
}

#[tokio::test]
async fn audit_since_refuses_a_time_it_cannot_compare() {
    let dirs = Dirs::new();
    let bad = dirs.run(&["audit", "--since", "yesterday"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("UTC time"));
    let good = dirs
        .run(&["audit", "--since", "2026-11-21T10:00:00Z"])
        .await;
    assert!(good.status.success());
}

#[tokio::test]
async fn the_audit_text_view_shows_each_policy_change_on_one_line() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let client = stdio_client(&dirs, &["--allow-model-grants"], legacy()).await;
    let change = json!({"component": "hostile", "kind": "network", "target": "api.github.com:443"});
    let granted = call(&client, "weld_request_grant", change.clone()).await;
    assert_eq!(granted.is_error, Some(false), "{}", text(&granted));
    let revoked = call(&client, "weld_revoke", change.clone()).await;
    assert_eq!(revoked.is_error, Some(false), "{}", text(&revoked));
    // Revoking again is refused with a message of several lines.
    let refused = call(&client, "weld_revoke", change).await;
    assert_eq!(refused.is_error, Some(true));
    still_serving(&client).await;
    audited(&dirs, "hostile_echo", "ok").await;
    client.cancel().await.expect("close");

    let output = dirs.run(&["audit"]).await;
    assert!(output.status.success());
    let shown = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = shown.lines().collect();
    // First the install that set the test up (installs are audited too).
    assert!(
        lines[0].contains("weld add") && lines[0].contains("hostile: install file:"),
        "{shown}"
    );
    lines.remove(0);
    assert_eq!(lines.len(), 4, "one line per record:\n{shown}");
    for (line, tool, outcome, change) in [
        (
            lines[0],
            "weld_request_grant",
            "applied_unapproved",
            "hostile: grant network api.github.com:443",
        ),
        (
            lines[1],
            "weld_revoke",
            "applied",
            "hostile: revoke network api.github.com:443",
        ),
        (
            lines[2],
            "weld_revoke",
            "refused",
            "hostile: revoke network api.github.com:443  ",
        ),
    ] {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1..3], [tool, outcome], "{line}");
        assert!(line.contains(change), "{change} not in: {line}");
        assert!(
            !line.contains(" us "),
            "no timings for a policy change: {line}"
        );
    }
    // A call of a component's tool still shows its timings, not a change.
    assert!(
        lines[3].contains("hostile_echo") && lines[3].contains(" us "),
        "{}",
        lines[3]
    );
}

#[tokio::test]
async fn a_policy_change_from_the_command_line_is_audited_like_one_over_mcp() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    weld_ok(&dirs, &["grant", "hostile", "env", "SOME_KEY"]).await;
    weld_ok(&dirs, &["revoke", "hostile", "env", "SOME_KEY"]).await;
    let missing = dirs
        .run(&["grant", "hostile", "storage", "fs:///no/such/dir/**"])
        .await;
    assert!(!missing.status.success());

    let records = audit_lines(&dirs);
    let seen: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
                r["change"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let install = format!("install file:{}", component("hostile").display());
    assert_eq!(
        seen,
        [
            ("weld add", "applied", install.as_str()),
            ("weld grant", "applied", "grant env SOME_KEY"),
            ("weld revoke", "applied", "revoke env SOME_KEY"),
            (
                "weld grant",
                "refused",
                "grant storage fs:///no/such/dir/** access=read"
            ),
        ],
        "{records:?}"
    );
    for record in &records {
        assert_eq!(record["component"], "hostile");
        assert_eq!(record["client"], "cli");
        assert!(record["digest"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert!(
        records[3]["error"]
            .as_str()
            .is_some_and(|e| e.contains("/no/such/dir")),
        "{:?}",
        records[3]
    );
}

#[tokio::test]
async fn serve_exits_when_stdin_closes_even_with_a_call_stuck_in_the_kernel() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let pipe = root.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs://{}/**\"\n        access: [read]\n  resources:\n    limits: {{ timeout: \"1s\" }}\n",
        root.display()
    );
    let file = dirs.state.join("p.yaml");
    std::fs::write(&file, policy).expect("write policy");
    weld_ok(
        &dirs,
        &["policy", "set", "hostile", &file.display().to_string()],
    )
    .await;

    let mut child = dirs
        .weld()
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "hostile_read-file", "arguments": {"path": pipe.display().to_string()}}});
    let requests = format!(
        "{}\n{}\n{call}\n",
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    stdin.write_all(requests.as_bytes()).await.expect("write");
    // Opening the FIFO blocks a host thread until a writer comes, which
    // never happens: the call ends at its deadline all the same.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let answer = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("an answer to the stuck call")
            .expect("read")
            .expect("weld closed stdout before answering");
        let message: Value = serde_json::from_str(&line).expect("json");
        if message["id"] == 2 {
            break message;
        }
    };
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(
        answer.to_string().contains("limit and was stopped"),
        "{answer}"
    );
    drop(stdin);
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("weld must exit once stdin closes, stuck thread or not")
        .expect("wait");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_mistyped_outcome_or_tool_name_is_an_error_that_helps() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let audit = dirs.run(&["audit", "--outcome", "error"]).await;
    assert!(
        !audit.status.success(),
        "an unknown outcome matched nothing silently"
    );
    let said = String::from_utf8_lossy(&audit.stderr);
    assert!(said.contains("`error` is not an outcome"), "{said}");
    assert!(said.contains("tool_error"), "{said}");

    let call = dirs.run(&["call", "hostile-echo", "{}"]).await;
    assert!(!call.status.success());
    let said = String::from_utf8_lossy(&call.stderr);
    assert!(said.contains("did you mean `hostile_echo`?"), "{said}");
}

#[tokio::test]
async fn directories_from_the_environment_are_not_shown_as_required_flags() {
    let dirs = Dirs::new();
    // The environment sets --state-dir and --cache-dir (see `Dirs::weld`).
    let call = dirs.run(&["call"]).await;
    assert_eq!(call.status.code(), Some(2), "a usage error");
    let said = String::from_utf8_lossy(&call.stderr);
    assert!(said.contains("Usage: weld call <TOOL>"), "{said}");
    assert!(!said.contains("--state-dir"), "{said}");
    assert!(!said.contains("--cache-dir"), "{said}");
    // …and are still the directories used.
    install_hostile(&dirs).await;
    let list = dirs.run(&["list"]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains("hostile"));
}

#[tokio::test]
async fn an_unset_granted_variable_is_said_by_list_and_not_warned_by_every_command() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let key = "WELD_TEST_GRANTED_BUT_UNSET";
    let grant = dirs.run(&["grant", "hostile", "env", key]).await;
    assert!(grant.status.success(), "{grant:?}");
    for args in [
        &["list"][..],
        &["policy", "show", "hostile"][..],
        &["audit"][..],
    ] {
        let out = dirs
            .weld()
            .args(args)
            .env_remove(key)
            .output()
            .await
            .expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains(key), "{args:?} warned: {stderr}");
    }
    let list = dirs
        .weld()
        .arg("list")
        .env_remove(key)
        .output()
        .await
        .expect("run");
    let said = String::from_utf8_lossy(&list.stdout);
    assert!(
        said.contains(&format!("warning: variable {key} is granted but not set")),
        "{said}"
    );
    let call = dirs
        .weld()
        .args(["call", "hostile_echo", r#"{"text":"x"}"#])
        .env_remove(key)
        .output()
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&call.stderr);
    assert!(stderr.contains(key), "weld call did not say: {stderr}");
}

#[tokio::test]
async fn a_removed_tools_approved_policy_leaves_the_lock_directory_with_it() {
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("dir");
    let text = dir.path().join("text.wasm");
    std::fs::copy(component("text"), &text).expect("copy");
    std::fs::write(text.with_extension("policy.yaml"), "version: \"1.0\"\n").expect("policy");
    let add = dirs
        .run(&["add", &text.display().to_string(), "--accept-policy"])
        .await;
    assert!(add.status.success(), "{add:?}");
    let kept = dirs
        .state
        .with_file_name("config")
        .join("weld/policies/text.yaml");
    assert!(kept.exists(), "the approved policy is not beside the lock");
    // A file weld did not write there is left alone.
    let other = kept.with_file_name("README");
    std::fs::write(&other, "mine").expect("write");

    let remove = dirs.run(&["remove", "text"]).await;
    assert!(remove.status.success(), "{remove:?}");
    assert!(
        !kept.exists(),
        "a removed tool's policy stayed beside the lock"
    );
    assert!(other.exists());
}

#[tokio::test]
async fn serve_takes_its_flags_from_the_config_files_serve_table_and_the_command_line_wins() {
    use tokio::io::AsyncBufReadExt;
    let dirs = Dirs::new();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(component("add"), dir.path().join("add.wasm")).expect("copy");
    let config = dir.path().join("weld.toml");
    std::fs::write(
        &config,
        // `state_dir` and `compile_timeout` are global flags: `weld serve`
        // takes them as its own.
        "[serve]\nhttp = \"127.0.0.1:0\"\nmax_instances = 7\ncomponent = [\"add.wasm\"]\n\
         state_dir = \"st\"\ncompile_timeout = 300\n",
    )
    .expect("config");
    let mut child = dirs
        .weld()
        .env("WELD_LOG", "info")
        .env("WELD_CONFIG", &config)
        .args(["serve", "--max-instances", "9"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    let served = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("log") {
            log.push_str(&line);
            log.push('\n');
            if line.contains("url=http://") {
                return true;
            }
        }
        false
    })
    .await
    .expect("weld did not start");
    assert!(served, "weld exited: {log}");
    assert!(log.contains("max_instances=9"), "{log}");
    let state = dir.path().join("st");
    assert!(
        log.contains(&format!("state={}", state.display())),
        "the state directory is not the one beside the file: {log}"
    );
    assert!(
        log.contains("tools=1"),
        "the file's component is not served: {log}"
    );
    child.start_kill().expect("kill");

    // A key that is no flag is refused, naming the file, the key and its
    // place; so are a misspelt switch set to false and a real one given a
    // value, which would change nothing if passed on, checked against the
    // real flags.
    for (table, says) in [
        (
            "max_instancez = 7",
            "weld.toml: [serve] max_instancez (line 2, column 1): `weld serve` has no flag \
             --max-instancez",
        ),
        ("no_bultin_tools = false", "has no flag --no-bultin-tools"),
        ("no_builtin_tools = 3", "--no-builtin-tools is a switch"),
        ("max_instances = false", "--max-instances takes a value"),
        (
            "max_instances = \"lots\"",
            "weld.toml: [serve] max_instances (line 2, column 17): invalid value 'lots'",
        ),
    ] {
        std::fs::write(&config, format!("[serve]\n{table}\n")).expect("config");
        let refused = dirs
            .weld()
            .env("WELD_CONFIG", &config)
            .arg("serve")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run");
        assert_eq!(refused.status.code(), Some(2), "{table}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains(says), "{table}: {said}");
    }
}

#[tokio::test]
async fn a_replicas_audit_records_carry_its_name() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let client = stdio_client(&dirs, &["--replica", "weld-7f9c"], legacy()).await;
    call(&client, "hostile_echo", json!({"text": "hi"})).await;
    let record = audited(&dirs, "hostile_echo", "ok").await;
    assert_eq!(record["replica"], "weld-7f9c", "{record}");
    client.cancel().await.expect("close");
    // Without --replica, none.
    let plain = dirs.run(&["call", "hostile_echo", r#"{"text":"x"}"#]).await;
    assert!(plain.status.success());
    let last = audit_lines(&dirs).pop().expect("a record");
    assert!(last.get("replica").is_none(), "{last}");
}

#[tokio::test]
async fn audit_records_go_to_stdout_as_json_lines_when_asked_and_no_file_is_written() {
    use tokio::io::AsyncBufReadExt as _;
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let mut weld = dirs
        .weld()
        .env("WELD_LOG", "info")
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--audit-to",
            "stdout",
            "--replica",
            "pod-3",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn weld serve");
    let mut log = tokio::io::BufReader::new(weld.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = log.next_line().await.expect("log") {
            if let Some(rest) = line.split("url=http://").nth(1) {
                return rest.split('/').next().expect("address").to_string();
            }
        }
        panic!("weld exited before serving HTTP");
    })
    .await
    .expect("serving within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let client = http_client(addr.parse().expect("address"), legacy()).await;
    call(&client, "hostile_echo", json!({"text": "hi"})).await;
    let mut out = tokio::io::BufReader::new(weld.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .expect("a record within 30 s")
        .expect("read stdout")
        .expect("a line");
    let record: Value = serde_json::from_str(&line).expect("one JSON record per line");
    assert_eq!(
        (&record["tool"], &record["outcome"], &record["replica"]),
        (&json!("hostile_echo"), &json!("ok"), &json!("pod-3")),
        "{record}"
    );
    drop(client);
    weld.start_kill().expect("kill");
    let in_file: Vec<Value> = audit_lines(&dirs)
        .into_iter()
        .filter(|r| r["tool"] == "hostile_echo")
        .collect();
    assert!(
        in_file.is_empty(),
        "the call's record went to the state's audit.jsonl too: {in_file:?}"
    );

    // Over stdio, stdout is the MCP channel: refused before serving.
    let refused = dirs.run(&["serve", "--audit-to", "stdout"]).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--audit-to stdout needs --http"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
