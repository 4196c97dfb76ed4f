//! Resource limits in documents.

use std::time::Duration;

use weld_policy::{ByteSize, Concurrency, Excess, Limits, Policy};

fn doc(limits: &str) -> String {
    format!("version: \"1.0\"\npermissions:\n  resources:\n    limits:\n{limits}")
}

fn err(limits: &str) -> String {
    Policy::parse_yaml(&doc(limits)).unwrap_err().to_string()
}

#[test]
fn limits_read_units_and_plain_numbers() {
    let p = Policy::parse_yaml(&doc("      memory: \"128Mi\"\n      timeout: \"500ms\"\n      output: 1048576\n      concurrency: 4\n      fuel: 18446744073709551615\n")).unwrap();
    assert_eq!(
        *p.limits(),
        Limits {
            memory: Some(ByteSize(128 << 20)),
            timeout: Some(Duration::from_millis(500)),
            output: Some(ByteSize(1 << 20)),
            concurrency: Some(Concurrency::waiting(4)),
            fuel: Some(u64::MAX),
        }
    );
    assert!(p.to_yaml().contains("      output: \"1Mi\"\n"));
    let json = Policy::parse_json(r#"{"version":"1.0","permissions":{"resources":{"limits":{"memory":65536,"timeout":"2m"}}}}"#).unwrap();
    assert_eq!(json.limits().memory, Some(ByteSize(65536)));
    assert_eq!(json.limits().timeout, Some(Duration::from_secs(120)));
}

#[test]
fn limit_errors_name_the_value_and_the_fix() {
    let p = "permissions.resources.limits";
    assert_eq!(
        err("      memory: \"128M\"\n"),
        format!(
            "5:15: `{p}.memory`: `128M` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `128Mi` or a plain number of bytes"
        )
    );
    assert_eq!(
        err("      memory: 128MB\n"),
        format!(
            "5:15: `{p}.memory`: `128MB` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `128Mi` or a plain number of bytes"
        )
    );
    assert_eq!(
        err("      memory: 1000\n"),
        format!(
            "5:15: `{p}.memory`: memory `1000` is less than one WebAssembly page; give at least `64Ki`"
        )
    );
    assert_eq!(
        err("      memory: 8Gi\n"),
        format!(
            "5:15: `{p}.memory`: memory `8Gi` exceeds `4Gi`, the most a wasm32 component can address"
        )
    );
    assert_eq!(
        err("      memory: 1.5Gi\n"),
        format!(
            "5:15: `{p}.memory`: `1.5Gi` is not a whole number; use a smaller unit instead of a fraction (`1536Mi`, not `1.5Gi`)"
        )
    );
    assert_eq!(
        err("      memory: [1]\n"),
        format!(
            "5:15: `{p}.memory` must be a size like `128Mi` or a number of bytes, found a list"
        )
    );
    assert_eq!(
        err("      output: 0\n"),
        format!("5:15: `{p}.output`: output `0` would fail every call; give at least 1 byte")
    );
    assert_eq!(
        err("      timeout: 10\n"),
        format!("5:16: `{p}.timeout`: `10` needs a unit: `10s`, `10ms`, `10m` or `10h`")
    );
    assert_eq!(
        err("      timeout: \"0s\"\n"),
        format!("5:16: `{p}.timeout`: timeout `0ms` would fail every call; give at least `1ms`")
    );
    assert_eq!(
        err("      timeout: \"2d\"\n"),
        format!("5:16: `{p}.timeout`: `2d` has an unknown unit `d`; use `ms`, `s`, `m` or `h`")
    );
    assert_eq!(
        err("      concurrency: 0\n"),
        format!("5:20: `{p}.concurrency`: `0` must be at least 1")
    );
    assert_eq!(
        err("      concurrency: -3\n"),
        format!("5:20: `{p}.concurrency`: `-3` must be at least 1")
    );
    assert_eq!(
        err("      concurrency: 4294967296\n"),
        format!("5:20: `{p}.concurrency`: `4294967296` is too large (at most 4294967295)")
    );
    assert_eq!(
        err("      concurrency: 2.5\n"),
        format!(
            "5:20: `{p}.concurrency` must be a whole number, or a mapping like `{{ max: 4, excess: refuse }}`, found a decimal number"
        )
    );
    assert_eq!(
        err("      fuel: 18446744073709551616\n"),
        format!(
            "5:13: `{p}.fuel`: `18446744073709551616` is too large (at most 18446744073709551615)"
        )
    );
    assert_eq!(
        err("      cpu: 5\n"),
        format!(
            "5:7: `{p}.cpu`: weld cannot hold a tool to a share of a CPU (`500m`, `2`): each call runs guest code on one thread, and several calls run at once — bound a call by `timeout` (wall-clock time) and `fuel` (instructions executed), and the number of calls by `concurrency`; remove `cpu`"
        )
    );
}

#[test]
fn resources_without_limits_is_refused() {
    assert_eq!(
        Policy::parse_yaml("version: \"1.0\"\npermissions:\n  resources:\n    limits:\n")
            .unwrap_err()
            .to_string(),
        "4:11: `permissions.resources.limits` is empty; remove it"
    );
}

fn concurrency(limits: &str) -> Option<Concurrency> {
    Policy::parse_yaml(&doc(limits))
        .unwrap()
        .limits()
        .concurrency
}

#[test]
fn concurrency_is_a_number_that_waits_or_a_mapping_that_chooses() {
    let refuse = Some(Concurrency {
        max: 1,
        excess: Excess::Refuse,
    });
    assert_eq!(
        concurrency("      concurrency: 4\n"),
        Some(Concurrency::waiting(4))
    );
    assert_eq!(
        concurrency("      concurrency: { max: 4 }\n"),
        Some(Concurrency::waiting(4))
    );
    assert_eq!(
        concurrency("      concurrency: { max: 4, excess: wait }\n"),
        Some(Concurrency::waiting(4))
    );
    assert_eq!(
        concurrency("      concurrency:\n        max: 1\n        excess: refuse\n"),
        refuse
    );
    let json = Policy::parse_json(
        r#"{"version":"1.0","permissions":{"resources":{"limits":{"concurrency":{"max":1,"excess":"refuse"}}}}}"#,
    )
    .unwrap();
    assert_eq!(json.limits().concurrency, refuse);
}

#[test]
fn concurrency_is_written_short_when_calls_wait_and_in_full_when_refused() {
    let waits = Policy::parse_yaml(&doc("      concurrency: { max: 4, excess: wait }\n")).unwrap();
    assert!(
        waits
            .to_yaml()
            .ends_with("    limits:\n      concurrency: 4\n"),
        "{}",
        waits.to_yaml()
    );
    let refuses =
        Policy::parse_yaml(&doc("      concurrency: { excess: refuse, max: 2 }\n")).unwrap();
    let yaml = refuses.to_yaml();
    assert!(
        yaml.ends_with("    limits:\n      concurrency:\n        max: 2\n        excess: refuse\n"),
        "{yaml}"
    );
    assert_eq!(Policy::parse_yaml(&yaml).unwrap(), refuses);
    let json = refuses.to_json();
    assert!(
        json.contains("\"concurrency\": {\n") && json.contains("\"excess\": \"refuse\""),
        "{json}"
    );
    assert_eq!(Policy::parse_json(&json).unwrap(), refuses);
}

#[test]
fn concurrency_errors_are_placed_and_name_the_fix() {
    let p = "permissions.resources.limits.concurrency";
    assert_eq!(
        err("      concurrency: { max: 4, excess: queue }\n"),
        format!(
            "5:38: `{p}.excess`: unknown value `queue`; expected `wait` (extra calls wait for a running one to finish) or `refuse` (extra calls fail at once with an error)"
        )
    );
    assert_eq!(
        err("      concurrency:\n        max: 4\n        excess: Refuse\n"),
        format!(
            "7:17: `{p}.excess`: unknown value `Refuse`; expected `wait` (extra calls wait for a running one to finish) or `refuse` (extra calls fail at once with an error)"
        )
    );
    assert_eq!(
        err("      concurrency: { excess: refuse }\n"),
        format!(
            "5:20: `{p}` has no `max`; add the number of calls that may run at once, e.g. `{{ max: 4, excess: refuse }}`"
        )
    );
    assert_eq!(
        err("      concurrency: { max: 0, excess: refuse }\n"),
        format!("5:27: `{p}.max`: `0` must be at least 1")
    );
    assert_eq!(
        err("      concurrency: { max: 4, excess: true }\n"),
        format!("5:38: `{p}.excess` must be a string, found true/false; put it in quotes")
    );
    assert_eq!(
        err("      concurrency: { max: 4, exces: refuse }\n"),
        format!(
            "5:30: unknown field `exces` in `{p}`; expected one of: max, excess (did you mean `excess`?)"
        )
    );
    assert_eq!(
        err("      concurrency: { max: 4, max: 5 }\n"),
        format!("5:30: `max` appears twice in `{p}` (first at 5:22); keep one")
    );
    assert_eq!(
        err("      concurrency: {}\n"),
        format!("5:20: `{p}` is an empty mapping; remove it")
    );
    assert_eq!(
        err("      concurrency: \"4\"\n"),
        format!(
            "5:20: `{p}` must be a whole number, or a mapping like `{{ max: 4, excess: refuse }}`, found a string"
        )
    );
}
