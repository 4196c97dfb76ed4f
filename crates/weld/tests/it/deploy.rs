//! The deployment files agree with the binary they deploy:
//! deploy/kubernetes/weld.yaml's configuration is one `weld sync` and
//! `weld serve` accept, its probes, port, mounts and timings are the ones
//! weld serves and needs, and the container build leaves out the same files
//! for podman and docker. (No cluster or container runtime here: this is
//! what can be checked without one.)

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::common::*;

/// A collection being read, with its anchor (0: none).
enum Open {
    Seq(Vec<Value>, usize),
    Map(serde_json::Map<String, Value>, usize, Option<String>),
}

/// The documents of a YAML stream as JSON values, aliases expanded (the
/// manifest shares its containers' mounts and security context that way).
fn yaml_documents(text: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.unwrap_or_else(|e| panic!("invalid YAML: {e}"));
        let (node, anchor) = match event {
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(serde_json::Map::new(), anchor, None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, anchor)) => (Value::Array(items), anchor),
                Some(Open::Map(entries, anchor, None)) => (Value::Object(entries), anchor),
                _ => panic!("unbalanced YAML at line {}", span.start.line()),
            },
            Event::Scalar(text, style, anchor, _) => (scalar(&text, style), anchor),
            Event::Alias(anchor) => (
                anchors
                    .get(&anchor)
                    .cloned()
                    .unwrap_or_else(|| panic!("an alias to no anchor: {anchor}")),
                0,
            ),
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => documents.push(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(entries, _, key)) => match key.take() {
                Some(key) => {
                    entries.insert(key, node);
                }
                None => {
                    *key = Some(match node {
                        Value::String(text) => text,
                        other => other.to_string(),
                    })
                }
            },
        }
    }
    documents
}

/// A scalar as YAML 1.2's core schema reads it.
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "" | "~" | "null" => Value::Null,
        _ => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
    }
}

/// The one document of `kind` in the manifest.
fn of_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let mut found = documents.iter().filter(|d| d["kind"] == kind);
    let document = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    document
}

/// The item of `list` whose `name` is `name`.
fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("nothing named {name} in {list}"))
}

fn seconds(value: &toml::Value) -> f64 {
    value
        .as_float()
        .or_else(|| value.as_integer().map(|n| n as f64))
        .unwrap_or_else(|| panic!("not a number of seconds: {value}"))
}

#[tokio::test]
async fn the_kubernetes_manifest_agrees_with_the_weld_binary() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("deploy/kubernetes/weld.yaml")).expect("manifest");
    let documents = yaml_documents(&text);
    let data = &of_kind(&documents, "ConfigMap")["data"];
    let pod = &of_kind(&documents, "Deployment")["spec"]["template"]["spec"];
    let weld = named(&pod["containers"], "weld");
    let mounts = &weld["volumeMounts"];
    let mount_of = |volume: &str| named(mounts, volume)["mountPath"].as_str().expect("path");

    // The configuration volume, laid out as the pod sees it.
    let dirs = Dirs::new();
    let etc = tempfile::tempdir().expect("dir");
    let config_volume = named(&pod["volumes"], "config");
    for item in config_volume["configMap"]["items"]
        .as_array()
        .expect("items")
    {
        let (key, path) = (
            item["key"].as_str().expect("key"),
            item["path"].as_str().expect("path"),
        );
        let content = data[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in the ConfigMap"));
        let file = etc.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, content).expect("write");
    }
    let config = etc.path().join("weld.toml");
    let config_arg = config.display().to_string();
    // The publisher's key is a placeholder: a real one stands in for it.
    let key = etc.path().join("keys/acme");
    weld_ok(&dirs, &["keygen", "--output", &key.display().to_string()]).await;

    // Where the image looks for the configuration is where it is mounted.
    let containerfile =
        std::fs::read_to_string(root.join("deploy/Containerfile")).expect("Containerfile");
    let image_config = containerfile
        .split_whitespace()
        .find_map(|word| word.strip_prefix("WELD_CONFIG="))
        .expect("the image sets WELD_CONFIG");
    assert_eq!(
        Path::new(mount_of("config")).join("weld.toml"),
        Path::new(image_config)
    );
    assert_eq!(weld["args"], serde_json::json!(["serve"]));

    let file: toml::Table =
        toml::from_str(data["weld.toml"].as_str().expect("weld.toml")).expect("weld.toml is TOML");
    let serve = file["serve"].as_table().expect("a [serve] table");
    // The token file is the Secret's key, where the Secret is mounted.
    let token_key = Path::new(serve["token_file"].as_str().expect("token_file"))
        .strip_prefix(mount_of("token"))
        .expect("token_file lies in the token volume")
        .to_str()
        .expect("text")
        .to_string();
    assert!(
        of_kind(&documents, "Secret")["stringData"][&token_key].is_string(),
        "the Secret has no key {token_key}"
    );
    // The port weld listens on is the container's.
    let http: std::net::SocketAddr = serve["http"].as_str().expect("http").parse().expect("addr");
    let port = named(&weld["ports"], "mcp");
    assert_eq!(port["containerPort"], http.port());
    // The probes are weld's, on that port.
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(weld[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(weld[probe]["httpGet"]["port"], port["name"], "{probe}");
    }
    // The kubelet waits for the whole shutdown: the delay, the grace, the
    // audit flush (5 s), tool definitions being kept (5 s) and OTLP's last
    // exports (10 s each for traces and metrics).
    let delay = serve.get("shutdown_delay").map_or(0.0, seconds);
    assert!(delay > 0.0, "a Service needs a shutdown_delay");
    let grace = seconds(&serve["shutdown_grace"]);
    let termination = pod["terminationGracePeriodSeconds"].as_f64().expect("set");
    assert!(
        termination >= delay + grace + 5.0 + 5.0 + 20.0,
        "terminationGracePeriodSeconds {termination} < {delay} + {grace} + 30"
    );
    // Sessions live in one replica as long as they may be idle.
    let service = &of_kind(&documents, "Service")["spec"];
    assert_eq!(service["sessionAffinity"], "ClientIP");
    let affinity = service["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
        .as_f64()
        .expect("an affinity timeout");
    let idle = seconds(&serve["session_idle_timeout"]);
    assert!(
        affinity >= idle,
        "affinity {affinity} s < session idle {idle} s"
    );

    // The init container's `weld sync` accepts the configuration and the
    // lock (the policies beside it are valid ones), ...
    let sync = named(&pod["initContainers"], "sync");
    let sync_args: Vec<&str> = sync["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("text"))
        .collect();
    let mut args = vec!["--config", &config_arg];
    args.extend(&sync_args);
    weld_ok(&dirs, &args).await;
    for entry in std::fs::read_dir(etc.path().join("policies")).expect("policies/") {
        let policy = entry.expect("entry").path().display().to_string();
        weld_ok(&dirs, &["policy", "validate", &policy]).await;
    }
    // ... and so does `weld serve`: with its address and token replaced
    // (the command line wins) it serves, and the probes answer.
    let token = etc.path().join("test-token");
    std::fs::write(&token, "a-token-for-this-test-only\n").expect("token");
    let token_arg = token.display().to_string();
    let (_server, addr) = http_server(
        &dirs,
        &["--config", &config_arg, "--token-file", &token_arg],
    )
    .await;
    let http = reqwest_client();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = weld[probe]["httpGet"]["path"].as_str().expect("path");
        let answer = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect("probe");
        assert_eq!(answer.status(), 200, "{path}");
    }
}

#[test]
fn podman_and_docker_leave_the_same_files_out_of_the_build() {
    let root = repo_root();
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let ignored = read(".containerignore");
    assert_eq!(ignored, read(".dockerignore"));
    for output in [
        "target/",
        ".git/",
        "**/node_modules/",
        "**/.venv/",
        "fuzz/artifacts/",
    ] {
        assert!(ignored.lines().any(|l| l == output), "{output} is sent");
    }
}
