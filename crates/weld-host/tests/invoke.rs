//! `weld-host` as a test boundary: a tool call from JSON arguments to its
//! output and its audit record, in process, with a WAT guest — no binary,
//! no MCP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use weld_host::enforce::Enforcement;
use weld_host::{
    Audit, AuditFailure, AuditRecord, Catalog, ComponentEntry, Invoked, JsonObject, LiveCatalog,
    ToolEntry, invoke,
};
use weld_policy::{Concurrency, Excess};
use weld_runtime::{CacheKey, CallLimits, Metering, Runtime, RuntimeConfig};

/// `add-one` returns its argument plus one; `spin` never returns.
const GUEST: &str = r#"(component
    (core module $m
        (func (export "spin") (loop $forever (br $forever)))
        (func (export "add-one") (param i32) (result i32)
            (i32.add (local.get 0) (i32.const 1))))
    (core instance $i (instantiate $m))
    (func (export "spin") (canon lift (core func $i "spin")))
    (func (export "add-one") (param "x" u32) (result u32)
        (canon lift (core func $i "add-one"))))"#;

struct Fixture {
    _dir: tempfile::TempDir,
    audit_path: std::path::PathBuf,
    audit: Audit,
    catalog: Catalog,
}

/// The guest as component `g` under `policy`, in a catalog of its own.
fn fixture(policy: Enforcement) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RuntimeConfig::new(dir.path().join("cache"));
    config.max_instances = 8;
    config.epoch_tick = Duration::from_millis(5);
    config.cache_key = Some(CacheKey::new([3; 32]));
    let runtime = Runtime::new(&config).expect("runtime");
    let loaded = runtime
        .load("guest", Metering::Off, || {
            Ok(wat::parse_str(GUEST).expect("WAT"))
        })
        .expect("load");
    let catalog = Catalog::build(vec![ComponentEntry {
        name: "g".into(),
        digest: "sha256:test".into(),
        docs: Default::default(),
        code: Arc::new(weld_host::lazy::Code::loaded(Arc::new(loaded))),
        policy,
        file: None,
        mcp_listing: None,
    }]);
    let audit_path = dir.path().join("audit.jsonl");
    let audit = Audit::to_file(&audit_path, AuditFailure::KeepServing).expect("audit");
    Fixture {
        _dir: dir,
        audit_path,
        audit,
        catalog,
    }
}

fn limits() -> CallLimits {
    CallLimits {
        timeout: Duration::from_secs(30),
        ..CallLimits::default()
    }
}

impl Fixture {
    fn entry(&self, tool: &str) -> &Arc<ToolEntry> {
        self.catalog.get(tool).expect("the tool is in the catalog")
    }

    async fn call(&self, tool: &str, arguments: Value) -> Invoked {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object")
        };
        invoke(
            self.entry(tool),
            Some(&arguments),
            &self.audit,
            Some("test".into()),
            std::future::pending(),
        )
        .await
    }

    fn records(&self) -> Vec<AuditRecord> {
        self.audit.flush(Duration::from_secs(5));
        let text = weld_host::audit::read_log(&self.audit_path)
            .expect("read the log")
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a record"))
            .collect()
    }
}

fn done(invoked: Invoked) -> weld_host::ToolOutput {
    match invoked {
        Invoked::Done(output) => output,
        Invoked::Cancelled => panic!("not cancelled"),
    }
}

#[tokio::test]
async fn a_call_turns_json_arguments_into_a_structured_result_and_one_audit_record() {
    let f = fixture(Enforcement::deny_all(limits()));
    let output = done(f.call("g_add-one", json!({"x": 41})).await);
    assert!(!output.is_error, "{output:?}");
    let mut expected = JsonObject::new();
    expected.insert("result".into(), json!(42));
    assert_eq!(output.structured, Some(expected));
    assert_eq!(output.text.as_deref(), Some(r#"{"result":42}"#));
    let records = f.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].tool, "g_add-one");
    assert_eq!(records[0].outcome, "ok");
    assert_eq!(records[0].args_bytes, r#"{"x":41}"#.len() as u64);
    assert_eq!(records[0].client.as_deref(), Some("test"));
}

#[tokio::test]
async fn arguments_that_do_not_fit_the_schema_run_nothing_and_say_why() {
    let f = fixture(Enforcement::deny_all(limits()));
    let output = done(f.call("g_add-one", json!({"x": "forty-one"})).await);
    assert!(output.is_error);
    let text = output.text.expect("a reason");
    assert!(text.starts_with("invalid arguments:"), "{text}");
    assert_eq!(f.records()[0].outcome, "invalid_arguments");
}

#[tokio::test]
async fn a_result_over_the_output_limit_is_an_error_not_an_answer() {
    let f = fixture(Enforcement {
        output: Some(1),
        ..Enforcement::deny_all(limits())
    });
    let output = done(f.call("g_add-one", json!({"x": 41})).await);
    assert!(output.is_error);
    assert!(output.structured.is_none());
    let text = output.text.expect("a reason");
    assert!(
        text.contains("more than its output limit of 1 bytes"),
        "{text}"
    );
    assert_eq!(f.records()[0].outcome, "output_limit");
}

#[tokio::test]
async fn a_cancelled_call_stops_the_guest_and_is_audited_as_cancelled() {
    let f = fixture(Enforcement::deny_all(limits()));
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let entry = Arc::clone(f.entry("g_spin"));
    let audit = f.audit.clone();
    let call = tokio::spawn(async move {
        invoke(&entry, None, &audit, None, async {
            let _ = cancelled.await;
        })
        .await
    });
    // The guest spins until cancelled; the deadline (30 s) is far away.
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(cancel);
    let invoked = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("cancellation ends the call")
        .expect("task");
    assert!(matches!(invoked, Invoked::Cancelled), "{invoked:?}");
    assert_eq!(f.records()[0].outcome, "cancelled");
}

#[tokio::test]
async fn a_component_at_its_concurrency_limit_refuses_the_next_call_when_its_policy_says_so() {
    let f = fixture(Enforcement {
        concurrency: Some(Concurrency {
            max: 1,
            excess: Excess::Refuse,
        }),
        ..Enforcement::deny_all(limits())
    });
    // A call that spins until stopped holds the component's one slot. It
    // is itself refused if a probe holds the slot when it starts, so it is
    // started again until it runs; a probe while it runs must be refused.
    let spawn_holder = || {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let entry = Arc::clone(f.entry("g_spin"));
        let audit = f.audit.clone();
        let task = tokio::spawn(async move {
            invoke(&entry, None, &audit, None, async {
                let _ = stopped.await;
            })
            .await
        });
        (task, stop)
    };
    let mut holder = spawn_holder();
    let mut refused = None;
    for _ in 0..2000 {
        if holder.0.is_finished() {
            holder = spawn_holder();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let output = done(f.call("g_add-one", json!({"x": 1})).await);
        if output.is_error {
            refused = output.text;
            break;
        }
    }
    let refused = refused.expect("a call is refused while another runs");
    assert!(
        refused.contains("concurrency limit of 1") && refused.contains("refuses more"),
        "{refused}"
    );
    let (task, stop) = holder;
    drop(stop);
    let invoked = task.await.expect("holder");
    assert!(matches!(invoked, Invoked::Cancelled), "{invoked:?}");
    let outcomes: Vec<String> = f.records().into_iter().map(|r| r.outcome).collect();
    assert!(
        outcomes.contains(&"refused_busy".to_string()),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"cancelled".to_string()), "{outcomes:?}");
}

#[tokio::test]
async fn a_swapped_catalog_is_seen_whole_by_the_next_lookup_and_wakes_watchers() {
    let live = LiveCatalog::new(Catalog::default());
    let mut changes = live.changes();
    assert!(live.snapshot().get("g_add-one").is_none());
    let f = fixture(Enforcement::deny_all(limits()));
    live.replace(f.catalog);
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .expect("woken")
        .expect("catalog alive");
    let snapshot = live.snapshot();
    let names: Vec<&str> = snapshot.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["g_add-one", "g_spin"]);
}
