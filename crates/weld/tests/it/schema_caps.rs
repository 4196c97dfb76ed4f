//! Components whose types expand to huge schemas (issue 7, item 7): records
//! that use a smaller record for every field, a few levels deep, with long
//! field names. A few kilobytes of component stand for gigabytes of JSON
//! Schema. weld must refuse such a component at `weld add` naming the tool,
//! the size and the cap, leave it out of `weld serve` while serving the
//! rest, and still accept one that is just under the caps. Issue 12: the
//! listing is sent in pages that never exceed their byte cap, and every
//! tool of more than a thousand installed components is reached through
//! the cursors (the whole listing is no longer capped at 4 MiB).
//!
//! The components are written here as WAT ([`nested_records`]) rather than
//! built from a guest crate: no guest toolchain generates such types on
//! purpose, and the test needs to choose their size exactly.

use serde_json::{Value, json};

use crate::common::*;

/// The shape of a generated component: `levels` records, each with
/// `fields` fields named `fJ-xxx…` (`name_len` bytes) of the record below
/// it (the lowest holds `u8`s), and `functions` exported functions `fN:
/// func(input: <top record>) -> u32` that return 7 (or, with
/// `record_result`, return the top record too; those are never called).
#[derive(Debug, Clone, Copy)]
pub struct NestedRecords {
    pub levels: usize,
    pub fields: usize,
    pub name_len: usize,
    pub functions: usize,
    pub record_result: bool,
}

impl NestedRecords {
    /// About the hostile component of the issue: 32 KB, three functions,
    /// each of whose input and output schemas would be about 170 MB of JSON
    /// (1 GB in all). Larger types are refused by the validator's own
    /// limit on type size.
    pub const HOSTILE: NestedRecords = NestedRecords {
        levels: 8,
        fields: 4,
        name_len: 1000,
        functions: 3,
        record_result: true,
    };

    /// The name of field `j` (< 10) of any record: `name_len` bytes, at
    /// least 4.
    fn field(&self, j: usize) -> String {
        format!(
            "f{j}-{}",
            "x".repeat(self.name_len.saturating_sub(3).max(1))
        )
    }

    /// The component, as WAT.
    pub fn wat(&self) -> String {
        let mut wat = String::from(
            r#"(component
  (core module $m
    (memory (export "memory") 16)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)
    (func (export "run") (param i32) (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))
"#,
        );
        for level in 0..self.levels {
            let part = if level == 0 {
                "u8".to_string()
            } else {
                format!("$r{}", level - 1)
            };
            wat.push_str(&format!("  (type $r{level}' (record"));
            for j in 0..self.fields {
                wat.push_str(&format!(" (field \"{}\" {part})", self.field(j)));
            }
            wat.push_str("))\n");
            wat.push_str(&format!(
                "  (export $r{level} \"r{level}\" (type $r{level}'))\n"
            ));
        }
        let top = self.levels - 1;
        let result = if self.record_result {
            format!("$r{top}")
        } else {
            "u32".to_string()
        };
        for f in 0..self.functions {
            wat.push_str(&format!(
                "  (func $f{f} (param \"input\" $r{top}) (result {result})
    (canon lift (core func $i \"run\") (memory $mem) (realloc $realloc)))
  (export \"f{f}\" (func $f{f}))\n"
            ));
        }
        wat.push(')');
        wat
    }

    /// A valid argument object for any of the functions.
    pub fn arguments(&self) -> Value {
        let mut value = json!(1);
        for _ in 0..self.levels {
            let record: serde_json::Map<String, Value> = (0..self.fields)
                .map(|j| (self.field(j), value.clone()))
                .collect();
            value = Value::Object(record);
        }
        json!({ "input": value })
    }

    /// Writes the component as `NAME.wasm` into `dir`.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let bytes = wat::parse_str(self.wat()).expect("generated WAT is valid");
        std::fs::create_dir_all(dir).expect("mkdir");
        let path = dir.join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).expect("write component");
        path
    }
}

/// Bytes of the input schema, by the mapping (crate docs of weld-schema):
/// a record is `{"additionalProperties":false,"properties":{…},"required":[…],"type":"object"}`.
fn expected(shape: NestedRecords) -> u64 {
    let name = shape.name_len as u64;
    let u8_schema = r#"{"maximum":255,"minimum":0,"type":"integer"}"#.len() as u64;
    let fields = shape.fields as u64;
    // {"additionalProperties":false,"properties":{P},"required":[R],"type":"object"}
    let shell = r#"{"additionalProperties":false,"properties":{},"required":[],"type":"object"}"#
        .len() as u64;
    // Each field: `"name":` + schema in properties, `"name"` in required,
    // and the commas between them.
    let mut part = u8_schema;
    for _ in 0..shape.levels {
        part = shell + fields * (name + 3 + part) + fields * (name + 2) + 2 * (fields - 1);
    }
    // The function's own object: one required parameter `input`.
    let top = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"input":},"required":["input"],"type":"object"}"#
        .len() as u64;
    top + part
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_component_whose_shared_types_expand_past_the_schema_cap_is_refused_at_add() {
    let dirs = Dirs::new();
    let file = NestedRecords::HOSTILE.write(&dirs.cache.join("files"), "hostile-types");
    assert!(
        std::fs::metadata(&file).expect("stat").len() < 40 * 1024,
        "the hostile component is small"
    );
    let output = dirs.run(&["add", &file.display().to_string()]).await;
    assert!(!output.status.success(), "installed: {}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("cannot be installed"), "{message}");
    assert!(message.contains("tool `hostile-types_f0`"), "{message}");
    assert!(
        message.contains("the input schema is more than "),
        "{message}"
    );
    assert!(message.contains("the cap is 262144 bytes"), "{message}");
    assert!(
        !dirs.state.join("index.json").exists(),
        "nothing was installed"
    );
}

#[tokio::test]
async fn serve_leaves_out_an_oversized_component_and_serves_the_others() {
    let dirs = Dirs::new();
    let hostile = NestedRecords::HOSTILE.write(&dirs.cache.join("files"), "hostile-types");
    let client = stdio_client(
        &dirs,
        &[
            "--component",
            &hostile.display().to_string(),
            "--component",
            &component("add").display().to_string(),
        ],
        legacy(),
    )
    .await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"add_add"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("hostile-types")),
        "{names:?}"
    );
    let sum = call(&client, "add_add", json!({"a": 2, "b": 3})).await;
    assert_eq!(sum.structured_content, Some(json!({"result": 5})));
    client.cancel().await.expect("close");
}

/// A component the caps leave out whole counts in
/// `weld_components_disabled`, as one that fails to load does.
#[tokio::test]
async fn an_oversized_component_counts_as_disabled_in_the_metrics() {
    let dirs = Dirs::new();
    let hostile = NestedRecords::HOSTILE.write(&dirs.cache.join("files"), "hostile-types");
    let (_weld, addr) = http_server(
        &dirs,
        &[
            "--component",
            &hostile.display().to_string(),
            "--component",
            &component("add").display().to_string(),
        ],
    )
    .await;
    let metrics = scrape_metrics(addr).await;
    let value = |name: &str| metric_value(&metrics, name);
    assert_eq!(value("weld_components_disabled"), Some(1.0), "{metrics}");
    assert_eq!(value("weld_tools"), Some(1.0), "add_add only: {metrics}");
}

#[tokio::test]
async fn inspect_reports_an_oversized_component_as_refused_with_the_reason() {
    let dirs = Dirs::new();
    let file = NestedRecords::HOSTILE.write(&dirs.cache.join("files"), "hostile-types");
    let output = dirs
        .run(&["inspect", &file.display().to_string(), "--json"])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["loadable"], false);
    let refused = report["refused"].as_str().expect("a reason");
    assert!(refused.contains("tool `hostile-types_f0`"), "{refused}");
    assert!(refused.contains("the cap is 262144 bytes"), "{refused}");
    assert_eq!(report["tools"], json!([]));
}

#[tokio::test]
async fn a_component_just_under_the_schema_cap_is_installed_listed_and_callable() {
    let shape = NestedRecords {
        levels: 4,
        fields: 4,
        name_len: 0,
        functions: 2,
        record_result: false,
    };
    // The longest names that keep the input schema under the cap.
    let name_len = (4..4096)
        .take_while(|&n| {
            expected(NestedRecords {
                name_len: n,
                ..shape
            }) <= 256 * 1024
        })
        .last()
        .expect("some length fits");
    let shape = NestedRecords { name_len, ..shape };
    let dirs = Dirs::new();
    let file = shape.write(&dirs.cache.join("files"), "big-types");
    weld_ok(&dirs, &["add", &file.display().to_string()]).await;

    let client = stdio_client(&dirs, &[], legacy()).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let tool = tools
        .iter()
        .find(|t| t.name == "big-types_f0")
        .expect("listed");
    let schema = Value::Object((*tool.input_schema).clone()).to_string();
    assert_eq!(schema.len() as u64, expected(shape));
    assert!(
        schema.len() as u64 > 256 * 1024 - 2 * 4096,
        "{} bytes: not close to the cap",
        schema.len()
    );
    let result = call(&client, "big-types_f1", shape.arguments()).await;
    assert_eq!(result.structured_content, Some(json!({"result": 7})));
    client.cancel().await.expect("close");
}

/// Three functions whose input and output schemas are each just under the
/// cap: about 1.5 MB of listing.
const LARGE_BUT_WITHIN: NestedRecords = NestedRecords {
    levels: 4,
    fields: 4,
    name_len: 340,
    functions: 3,
    record_result: true,
};

/// The most bytes of tool definitions one `tools/list` answer carries
/// (`weld_host::catalog::MAX_PAGE_BYTES`).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of `tool` as the listing measures it: its definition's compact
/// JSON (name, description, schemas).
fn definition_len(tool: &rmcp::model::Tool) -> usize {
    let mut definition = json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": Value::Object((*tool.input_schema).clone()),
    });
    if let Some(output) = &tool.output_schema {
        definition["outputSchema"] = Value::Object((**output).clone());
    }
    definition.to_string().len()
}

/// Every page of `client`'s `tools/list`, following the cursors.
async fn pages(client: &Client) -> Vec<Vec<rmcp::model::Tool>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .list_tools(Some(
                rmcp::model::PaginatedRequestParams::default().with_cursor(cursor),
            ))
            .await
            .expect("tools/list page");
        pages.push(page.tools);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn large_tools_are_all_served_in_pages_that_never_exceed_the_byte_cap() {
    let dirs = Dirs::new();
    let files = dirs.cache.join("files");
    let mut args = Vec::new();
    // About 4.5 MB of listing in all: over one page, and more than the
    // whole listing could take before it was held as text.
    for name in ["big-a", "big-b", "big-c"] {
        args.push("--component".to_string());
        args.push(LARGE_BUT_WITHIN.write(&files, name).display().to_string());
    }
    args.push("--component".to_string());
    args.push(component("add").display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = stdio_client(&dirs, &args, legacy()).await;
    let pages = pages(&client).await;
    assert!(pages.len() > 1, "4.5 MB is more than one page");
    let mut names = std::collections::BTreeSet::new();
    for page in &pages {
        assert!(!page.is_empty(), "every page holds a tool");
        let bytes: usize = page.iter().map(definition_len).sum();
        assert!(bytes <= MAX_PAGE_BYTES, "a page of {bytes} bytes");
        names.extend(page.iter().map(|t| t.name.to_string()));
    }
    // The pages are as full as the cap lets them: a page and the first
    // tool of the next would be over it.
    for pair in pages.windows(2) {
        let bytes: usize = pair[0].iter().map(definition_len).sum();
        assert!(bytes + definition_len(&pair[1][0]) > MAX_PAGE_BYTES);
    }
    let components: std::collections::BTreeSet<&str> = names
        .iter()
        .filter_map(|t| t.split_once('_').map(|(c, _)| c))
        .collect();
    assert_eq!(
        components.into_iter().collect::<Vec<_>>(),
        ["add", "big-a", "big-b", "big-c", "weld"],
    );
    let result = call(&client, "big-c_f2", LARGE_BUT_WITHIN.arguments()).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    client.cancel().await.expect("close");
}

/// Installs the `text` example as `c0` and, by copying its index entry,
/// as `c1` … `c{n-1}` (one blob, one compiled artefact and description,
/// as `weld add` under each name would leave them, in a second).
async fn install_text_times(dirs: &Dirs, n: usize) {
    let file = component("text").display().to_string();
    weld_ok(dirs, &["add", &file, "--name", "c0"]).await;
    let path = dirs.state.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read index")).expect("index JSON");
    let first = index["components"]["c0"].clone();
    for i in 1..n {
        index["components"][format!("c{i}")] = first.clone();
    }
    std::fs::write(&path, serde_json::to_vec(&index).expect("JSON")).expect("write index");
}

#[tokio::test]
async fn the_tools_of_eleven_hundred_installed_components_are_all_reached_through_the_cursors() {
    let dirs = Dirs::new();
    let n = 1100;
    install_text_times(&dirs, n).await;
    let client = stdio_client(&dirs, &[], legacy()).await;
    let pages = pages(&client).await;
    let names: Vec<String> = pages.iter().flatten().map(|t| t.name.to_string()).collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), names.len(), "no tool twice");
    for i in 0..n {
        assert!(
            unique.contains(format!("c{i}_slugify").as_str()),
            "c{i}'s tools are not listed ({} tools in {} pages)",
            names.len(),
            pages.len()
        );
    }
    let result = call(&client, "c1099_slugify", json!({"text": "Hello, World"})).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    client.cancel().await.expect("close");
}
