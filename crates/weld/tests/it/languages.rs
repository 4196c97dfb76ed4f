//! Tools written in Python, JavaScript and C: the examples (built from
//! source by scripts/build-components.sh with the toolchains
//! scripts/toolchains.sh installs) are described from their WIT docs and
//! answer through `weld call` and an MCP client; the directory example
//! reads only under its grant; the secret example gets its key only from
//! the secret store; and `weld new` writes, for each language, a
//! project whose one build command builds and whose test passes.
//!
//! A missing toolchain or example fails these tests, naming the script that
//! provides it: none of them is skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::{Dirs, call, legacy, repo_root, stdio_client, text, weld_bin, weld_ok};

/// An example built by scripts/build-components.sh in another language.
fn example(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-components.sh, which installs the Python, \
         JavaScript and C toolchains with scripts/toolchains.sh (scripts/test.sh does both)",
        path.display()
    );
    path
}

/// A toolchain's directory of programs under target/toolchains.
fn toolchain(bin: &str) -> PathBuf {
    let dir = repo_root().join("target/toolchains").join(bin);
    assert!(
        dir.is_dir(),
        "{} is missing: install the toolchains with scripts/toolchains.sh",
        dir.display()
    );
    dir
}

/// One tool's expected description and one parameter's.
struct Described {
    tool: &'static str,
    description: &'static str,
    parameter: &'static str,
    parameter_description: &'static str,
}

/// One call and its expected structured result, or the tool error's text.
struct Answer {
    tool: &'static str,
    arguments: Value,
    expected: Result<Value, &'static str>,
}

/// `weld call TOOL ARGUMENTS` against `dirs`' state, as JSON.
async fn weld_call(dirs: &Dirs, tool: &str, arguments: &Value) -> Value {
    let output = dirs.run(&["call", tool, &arguments.to_string()]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "weld call {tool}: no JSON result (status {}): {stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn check_answer(how: &str, answer: &Answer, result: &Value) {
    match &answer.expected {
        Ok(value) => {
            assert_eq!(
                result["isError"],
                json!(false),
                "{how} {}: {result}",
                answer.tool
            );
            // A record comes back as the structured content itself; any
            // other value wrapped as {"result": value}.
            let expected = if value.is_object() {
                value.clone()
            } else {
                json!({ "result": value })
            };
            assert_eq!(
                result["structuredContent"], expected,
                "{how} {}",
                answer.tool
            );
        }
        Err(message) => {
            assert_eq!(
                result["isError"],
                json!(true),
                "{how} {}: {result}",
                answer.tool
            );
            let shown = result["content"][0]["text"].as_str().unwrap_or_default();
            assert!(
                shown.contains(message),
                "{how} {}: `{shown}` does not say `{message}`",
                answer.tool
            );
        }
    }
}

/// Installs the example `name` once, then checks its tools' descriptions in
/// `weld list` and over MCP, and every answer through `weld call` and MCP.
async fn check_example(name: &str, described: &[Described], answers: &[Answer]) {
    let dirs = Dirs::new();
    // Python and JavaScript components carry an interpreter (12-18 MB):
    // compiling one takes 20-60 s on a busy 2-core machine, close to the
    // default limit this test is not about.
    weld_ok(
        &dirs,
        &[
            "add",
            &example(name).display().to_string(),
            "--compile-timeout",
            "600",
        ],
    )
    .await;

    let listed = dirs.run(&["list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("weld list --json");
    let tools = &listed[0]["tools"];
    for d in described {
        let tool = tools
            .as_array()
            .and_then(|tools| tools.iter().find(|t| t["name"] == d.tool))
            .unwrap_or_else(|| panic!("{} is not listed: {tools}", d.tool));
        let description = tool["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with(d.description),
            "{}: `{description}`",
            d.tool
        );
        assert_eq!(
            tool["inputSchema"]["properties"][d.parameter]["description"],
            json!(d.parameter_description),
            "{} {}",
            d.tool,
            d.parameter
        );
    }
    for answer in answers {
        check_answer(
            "weld call",
            answer,
            &weld_call(&dirs, answer.tool, &answer.arguments).await,
        );
    }

    let client = stdio_client(&dirs, &[], legacy()).await;
    let served = client.list_all_tools().await.expect("tools/list");
    for d in described {
        let tool = served
            .iter()
            .find(|t| t.name == d.tool)
            .unwrap_or_else(|| panic!("{} is not served", d.tool));
        assert!(
            tool.description
                .as_deref()
                .is_some_and(|text| text.starts_with(d.description)),
            "{}: {:?}",
            d.tool,
            tool.description
        );
        assert_eq!(
            tool.input_schema["properties"][d.parameter]["description"],
            json!(d.parameter_description)
        );
    }
    for answer in answers {
        let result = call(&client, answer.tool, answer.arguments.clone()).await;
        let result = json!({
            "isError": result.is_error.unwrap_or(false),
            "structuredContent": result.structured_content,
            "content": [{"text": text(&result)}],
        });
        check_answer("MCP", answer, &result);
    }
    client.cancel().await.expect("close");
    // A runtime that probed paths of its own (an interpreter looking for
    // its library) would leave a refusal at the empty root in every call.
    let denied: Vec<Value> = crate::common::audit_lines(&dirs)
        .into_iter()
        .filter(|r| r.get("storage_denied").is_some())
        .collect();
    assert!(denied.is_empty(), "{name} reached for paths: {denied:?}");
}

#[tokio::test]
async fn the_python_example_is_described_by_its_wit_and_answers() {
    check_example(
        "pytext",
        &[Described {
            tool: "pytext_csv-to-json",
            description: "Converts CSV text with a header row into a JSON array of objects",
            parameter: "delimiter",
            parameter_description: "The field separator, one character; a comma if omitted.",
        }],
        &[
            Answer {
                tool: "pytext_csv-to-json",
                arguments: json!({"csv": "name,age\nAda,36\nAlan,41\n"}),
                expected: Ok(json!(
                    r#"[{"name": "Ada", "age": "36"}, {"name": "Alan", "age": "41"}]"#
                )),
            },
            Answer {
                tool: "pytext_csv-to-json",
                arguments: json!({"csv": "a;b\n1;2", "delimiter": ";;"}),
                expected: Err("the delimiter must be one character"),
            },
            Answer {
                tool: "pytext_csv-summary",
                arguments: json!({"csv": "city,country\nParis,FR\nRome,IT\n"}),
                expected: Ok(json!({"rows": 2, "columns": ["city", "country"]})),
            },
            Answer {
                tool: "pytext_json-format",
                arguments: json!({"document": r#"{"b": 1, "a": [true]}"#, "indent": 0}),
                expected: Ok(json!(r#"{"a":[true],"b":1}"#)),
            },
            Answer {
                tool: "pytext_json-format",
                arguments: json!({"document": "{\"a\": ", "indent": 2}),
                expected: Err("invalid JSON at line 1"),
            },
            Answer {
                tool: "pytext_top-words",
                arguments: json!({"text": "the cat and the hat; The end", "top": 2}),
                expected: Ok(json!([
                    {"word": "the", "count": 3},
                    {"word": "and", "count": 1}
                ])),
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn the_javascript_example_is_described_by_its_wit_and_answers() {
    check_example(
        "jstext",
        &[Described {
            tool: "jstext_count-matches",
            description: "Counts the matches of a JavaScript regular expression in a text.",
            parameter: "ignore-case",
            parameter_description: "Match letters case-insensitively; false if omitted.",
        }],
        &[
            Answer {
                tool: "jstext_markdown-headings",
                arguments: json!({"markdown": "# Read Me\n```\n# not a heading\n```\n## Über uns"}),
                expected: Ok(json!([
                    {"level": 1, "text": "Read Me", "anchor": "read-me"},
                    {"level": 2, "text": "Über uns", "anchor": "über-uns"}
                ])),
            },
            Answer {
                tool: "jstext_count-matches",
                arguments: json!({"text": "Ab ab AB", "pattern": "ab", "ignore-case": true}),
                expected: Ok(json!(3)),
            },
            Answer {
                tool: "jstext_count-matches",
                arguments: json!({"text": "x", "pattern": "("}),
                expected: Err("invalid regular expression"),
            },
            Answer {
                tool: "jstext_fill-template",
                arguments: json!({"template": "Hi {{who}}, {{n}} new", "values": r#"{"who": "Ada", "n": 3}"#}),
                expected: Ok(json!("Hi Ada, 3 new")),
            },
            Answer {
                tool: "jstext_fill-template",
                arguments: json!({"template": "Hi {{who}}", "values": "{}"}),
                expected: Err("no value for the placeholder {{who}}"),
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn the_c_example_is_described_by_its_wit_and_answers() {
    check_example(
        "ctext",
        &[Described {
            tool: "ctext_base64-decode",
            description: "Decodes Base64 (RFC 4648, padding optional) into text",
            parameter: "data",
            parameter_description: "The Base64 text.",
        }],
        &[
            Answer {
                tool: "ctext_rot13",
                arguments: json!({"text": "Hello, World!"}),
                expected: Ok(json!("Uryyb, Jbeyq!")),
            },
            Answer {
                tool: "ctext_crc32",
                arguments: json!({"text": "hello"}),
                expected: Ok(json!(907_060_870u32)),
            },
            Answer {
                tool: "ctext_base64-encode",
                arguments: json!({"text": "héllo"}),
                expected: Ok(json!("aMOpbGxv")),
            },
            Answer {
                tool: "ctext_base64-decode",
                arguments: json!({"data": "aMOpbGxv"}),
                expected: Ok(json!("héllo")),
            },
            Answer {
                tool: "ctext_base64-decode",
                arguments: json!({"data": "not base64!"}),
                expected: Err("not Base64"),
            },
            Answer {
                tool: "ctext_base64-decode",
                arguments: json!({"data": "/w=="}),
                expected: Err("not UTF-8"),
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn the_directory_example_reads_only_under_its_grant() {
    let dirs = Dirs::new();
    let base = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(base.path())
        .expect("real path")
        .to_path_buf();
    let notes = base.join("notes");
    std::fs::create_dir_all(notes.join("work")).expect("mkdir");
    std::fs::write(notes.join("shopping.md"), "# Shopping\n- coffee\n").expect("write");
    std::fs::write(notes.join("work/todo.md"), "call Ada\nbuy coffee\n").expect("write");
    std::fs::create_dir(base.join("private")).expect("mkdir");
    std::fs::write(base.join("private/diary.md"), "coffee, secretly\n").expect("write");

    // The policy the example proposes (cfiles.policy.yaml beside it):
    // fs://./notes/** read-only, under --base-dir.
    let component = example("cfiles");
    weld_ok(
        &dirs,
        &[
            "add",
            &component.display().to_string(),
            "--accept-policy",
            "--base-dir",
            &base.display().to_string(),
        ],
    )
    .await;

    let n = notes.display().to_string();
    let listed = weld_call(&dirs, "cfiles_list-dir", &json!({"directory": n})).await;
    assert_eq!(
        listed["structuredContent"]["result"],
        json!([
            {"name": "shopping.md", "is-dir": false, "size": 20},
            {"name": "work", "is-dir": true, "size": 0}
        ]),
        "{listed}"
    );
    let read = weld_call(
        &dirs,
        "cfiles_read-text",
        &json!({"path": format!("{n}/work/todo.md"), "max-bytes": 100}),
    )
    .await;
    assert_eq!(
        read["structuredContent"]["result"],
        json!("call Ada\nbuy coffee\n")
    );
    let found = weld_call(
        &dirs,
        "cfiles_search",
        &json!({"directory": base.display().to_string(), "needle": "coffee"}),
    )
    .await;
    assert_eq!(found["isError"], json!(true), "outside the grant: {found}");
    let found = weld_call(
        &dirs,
        "cfiles_search",
        &json!({"directory": n, "needle": "coffee"}),
    )
    .await;
    let mut hits: Vec<String> = found["structuredContent"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("search: {found}"))
        .iter()
        .map(|hit| format!("{}:{}", hit["path"].as_str().unwrap_or(""), hit["line"]))
        .collect();
    hits.sort();
    assert_eq!(
        hits,
        [format!("{n}/shopping.md:2"), format!("{n}/work/todo.md:2")]
    );

    // Outside the grant nothing is readable, however the path is spelt.
    for path in [
        base.join("private/diary.md").display().to_string(),
        format!("{n}/../private/diary.md"),
    ] {
        let refused = weld_call(
            &dirs,
            "cfiles_read-text",
            &json!({"path": path, "max-bytes": 100}),
        )
        .await;
        assert_eq!(refused["isError"], json!(true), "{path}: {refused}");
        assert!(
            !refused.to_string().contains("secretly"),
            "{path}: {refused}"
        );
    }
    let refused = weld_call(
        &dirs,
        "cfiles_list-dir",
        &json!({"directory": base.display().to_string()}),
    )
    .await;
    assert_eq!(refused["isError"], json!(true), "{refused}");
}

// ---------------------------------------------------------------------------
// weld new
// ---------------------------------------------------------------------------

/// Runs `weld new NAME --lang LANG` in `dir`.
fn weld_new(dir: &Path, name: &str, lang: &str) -> std::process::Output {
    std::process::Command::new(weld_bin())
        .args(["new", name, "--lang", lang])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run weld new")
}

/// PATH with the toolchains of scripts/toolchains.sh first, so a project's
/// build.sh finds them as a user's would on their PATH.
fn toolchain_path() -> String {
    let mut dirs = vec![
        toolchain("py/bin"),
        toolchain("js/node_modules/.bin"),
        toolchain("c/bin"),
    ];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    // Debian's clang-19 (with wasi-libc) is installed system-wide.
    assert!(
        dirs.iter().any(|dir| dir.join("clang-19").is_file()),
        "clang-19 is not on PATH: install the toolchains with scripts/toolchains.sh"
    );
    std::env::join_paths(dirs)
        .expect("PATH")
        .to_string_lossy()
        .into_owned()
}

/// Runs a project's script with weld and the toolchains on hand.
fn run_script(project: &Path, script: &str) {
    let output = std::process::Command::new(project.join(script))
        .current_dir(project)
        .env("WELD", weld_bin())
        .env("PATH", toolchain_path())
        // Rust projects share the examples' build directory, where
        // wit-bindgen is already compiled for wasm32-wasip2.
        .env("CARGO_TARGET_DIR", repo_root().join("target/wasm"))
        .env("WELD_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert!(
        output.status.success(),
        "{}/{script} failed ({}):\n{}\n{}",
        project.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How much of a new project a test runs.
#[derive(PartialEq)]
enum Run {
    /// build.sh, then test.sh (which compiles the component in weld).
    BuildAndTest,
    /// build.sh, then `weld inspect` of what it built. For Python and
    /// JavaScript, whose components carry an interpreter (12-18 MB): their
    /// build takes 20-90 s here and compiling them in test.sh as long again.
    BuildAndInspect,
}

/// `weld new` for `lang` writes a project with the common files, and its
/// build.sh (and test.sh, as `run` says) succeed.
fn new_project_builds(lang: &str, source: &str, run: Run) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = weld_new(dir.path(), "hello-tool", lang);
    assert!(
        output.status.success(),
        "weld new --lang {lang}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let project = dir.path().join("hello-tool");
    for file in [
        "wit/hello-tool.wit",
        "hello-tool.policy.yaml",
        "build.sh",
        "test.sh",
        source,
    ] {
        assert!(project.join(file).is_file(), "{lang}: no {file}");
    }
    let wit = std::fs::read_to_string(project.join("wit/hello-tool.wit")).expect("wit");
    assert!(wit.contains("/// @param name"), "{wit}");
    let policy = project.join("hello-tool.policy.yaml");
    let valid = std::process::Command::new(weld_bin())
        .args(["policy", "validate", &policy.display().to_string()])
        .output()
        .expect("weld policy validate");
    assert!(
        valid.status.success(),
        "{lang}: the proposed policy is invalid"
    );

    run_script(&project, "build.sh");
    assert!(
        project.join("hello-tool.wasm").is_file(),
        "{lang}: nothing built"
    );
    if run == Run::BuildAndTest {
        run_script(&project, "test.sh");
        return;
    }
    let inspected = std::process::Command::new(weld_bin())
        .args(["inspect", "hello-tool.wasm"])
        .current_dir(&project)
        .env("WELD_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("weld inspect");
    let shown = String::from_utf8_lossy(&inspected.stdout);
    assert!(inspected.status.success(), "{lang}: weld inspect: {shown}");
    assert!(shown.contains("tool hello-tool_greet"), "{lang}: {shown}");
    assert!(
        shown.contains("Greets someone by name."),
        "{lang}: the WIT docs are not embedded: {shown}"
    );
}

#[test]
fn weld_new_rust_builds_with_one_command_and_its_test_passes() {
    new_project_builds("rust", "src/lib.rs", Run::BuildAndTest);
}

#[test]
fn weld_new_python_builds_with_one_command_and_is_described_by_its_wit() {
    new_project_builds("python", "app.py", Run::BuildAndInspect);
}

#[test]
fn weld_new_js_builds_with_one_command_and_is_described_by_its_wit() {
    new_project_builds("js", "hello-tool.js", Run::BuildAndInspect);
}

#[test]
fn weld_new_c_builds_with_one_command_and_its_test_passes() {
    new_project_builds("c", "hello-tool.c", Run::BuildAndTest);
}

/// `weld new --mcp` writes an MCP server component project (wasmcp's
/// world) whose build.sh builds it and whose test.sh sees its tool,
/// resource and prompt through `weld inspect --list` and calls its tool
/// through `weld call`.
#[test]
fn weld_new_rust_mcp_builds_an_mcp_server_component_and_its_test_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(weld_bin())
        .args(["new", "hello-server", "--lang", "rust", "--mcp"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run weld new");
    assert!(
        output.status.success(),
        "weld new --mcp: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let project = dir.path().join("hello-server");
    for file in [
        "wit/hello-server.wit",
        "wit/deps/mcp-v20251125/mcp.wit",
        "wit/deps/LICENSE-wasmcp",
        "hello-server.policy.yaml",
        "src/lib.rs",
        "build.sh",
        "test.sh",
    ] {
        assert!(project.join(file).is_file(), "no {file}");
    }
    run_script(&project, "build.sh");
    run_script(&project, "test.sh");

    let python = weld_new_mcp(dir.path(), "py-server", "python");
    assert!(!python.status.success());
    let stderr = String::from_utf8_lossy(&python.stderr);
    assert!(stderr.contains("Rust only"), "{stderr}");
    assert!(!dir.path().join("py-server").exists());
}

fn weld_new_mcp(dir: &Path, name: &str, lang: &str) -> std::process::Output {
    std::process::Command::new(weld_bin())
        .args(["new", name, "--lang", lang, "--mcp"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run weld new")
}

#[test]
fn weld_new_never_writes_into_an_existing_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("mine");
    std::fs::create_dir(&existing).expect("mkdir");
    std::fs::write(existing.join("build.sh"), "precious").expect("write");
    let output = weld_new(dir.path(), "mine", "python");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(existing.join("build.sh")).expect("read"),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&existing).expect("read dir").count(), 1);
}

#[test]
fn weld_new_refuses_a_name_no_toolchain_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["My_Tool", "../escape", "2fast"] {
        let output = weld_new(dir.path(), bad, "c");
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot name a tool"), "{bad}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0);
}

/// The recipes (and every project's build.sh) run `weld docs embed
/// NAME.wasm --wit wit` in the tool's directory: a bare file name.
#[test]
fn docs_are_embedded_into_a_component_named_by_a_bare_file_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(example("ctext"), dir.path().join("ctext.wasm")).expect("copy");
    let wit = repo_root().join("examples/c-text/wit");
    let output = std::process::Command::new(weld_bin())
        .args([
            "docs",
            "embed",
            "ctext.wasm",
            "--wit",
            &wit.display().to_string(),
        ])
        .current_dir(dir.path())
        .output()
        .expect("weld docs embed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("wrote docs for 4 function(s)"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn the_secret_example_signs_only_with_the_key_from_the_secret_store() {
    use tokio::io::AsyncWriteExt as _;

    let dirs = Dirs::new();
    // csign.policy.yaml grants SIGNING_KEY from the secret store.
    weld_ok(
        &dirs,
        &[
            "add",
            &example("csign").display().to_string(),
            "--accept-policy",
        ],
    )
    .await;
    let rfc4231 = json!({"text": "what do ya want for nothing?"});

    // weld's own environment is not the secret store: the tool sees no key.
    let output = dirs
        .weld()
        .env("SIGNING_KEY", "from-the-environment")
        .args(["call", "csign_sign", &rfc4231.to_string()])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("weld call");
    let unsigned: Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    assert_eq!(unsigned["isError"], json!(true), "{unsigned}");
    assert!(
        unsigned["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("weld secret set csign SIGNING_KEY")),
        "{unsigned}"
    );

    let mut set = dirs
        .weld()
        .args(["secret", "set", "csign", "SIGNING_KEY"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("weld secret set");
    let mut stdin = set.stdin.take().expect("stdin");
    stdin.write_all(b"Jefe\n").await.expect("write the key");
    drop(stdin);
    assert!(set.wait().await.expect("wait").success());

    // RFC 4231, test case 2.
    let signature = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let signed = weld_call(&dirs, "csign_sign", &rfc4231).await;
    assert_eq!(
        signed["structuredContent"],
        json!({"result": signature}),
        "{signed}"
    );
    let checked = weld_call(
        &dirs,
        "csign_verify",
        &json!({"text": "what do ya want for nothing?", "signature": signature.to_uppercase()}),
    )
    .await;
    assert_eq!(checked["structuredContent"], json!({"result": true}));
    let checked = weld_call(
        &dirs,
        "csign_verify",
        &json!({"text": "what do ya want for nothing!", "signature": signature}),
    )
    .await;
    assert_eq!(checked["structuredContent"], json!({"result": false}));
}
