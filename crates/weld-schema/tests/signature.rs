//! Functions as MCP tools: the argument object and its schema, the messages
//! a model sees for bad arguments, and how each kind of result becomes
//! structured content, text, or a tool error.

mod common;

use common::validator;
use serde_json::{Map, Value, json};
use wasmtime::component::Val;
use weld_schema::{Rendered, Signature, Ty};

fn sig(params: &[(&str, Ty)], result: Option<Ty>) -> Signature {
    Signature {
        params: params
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect(),
        result,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn no_docs(_: &str) -> Option<String> {
    None
}

fn point() -> Ty {
    Ty::Record(vec![("x".into(), Ty::U8), ("y".into(), Ty::U8)])
}

fn string_result() -> Ty {
    Ty::Result {
        ok: Some(Box::new(Ty::String)),
        err: Some(Box::new(Ty::String)),
    }
}

#[test]
fn input_schema_is_a_closed_object_requiring_non_option_params() {
    let s = sig(
        &[("a", Ty::U32), ("b", Ty::Option(Box::new(Ty::String)))],
        None,
    );
    let schema = Value::Object(s.input_schema(&no_docs));
    assert_eq!(
        schema,
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "a": Ty::U32.json_schema(),
                "b": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            },
            "required": ["a"],
            "additionalProperties": false,
        })
    );
    let v = validator(&schema);
    assert!(v.is_valid(&json!({"a": 1})));
    assert!(!v.is_valid(&json!({"b": "x"})));
}

#[test]
fn input_schema_of_a_function_without_params_accepts_only_an_empty_object() {
    let schema = Value::Object(sig(&[], None).input_schema(&no_docs));
    let v = validator(&schema);
    assert!(v.is_valid(&json!({})));
    assert!(!v.is_valid(&json!({"x": 1})));
    assert_eq!(schema.get("required"), None);
}

#[test]
fn param_docs_become_property_descriptions() {
    let s = sig(&[("a", Ty::U32), ("b", Ty::String)], None);
    let schema = s.input_schema(&|name: &str| (name == "a").then(|| "How many.".to_string()));
    let props = &schema["properties"];
    assert_eq!(props["a"]["description"], json!("How many."));
    assert_eq!(props["b"].get("description"), None);
}

#[test]
fn args_convert_in_declaration_order_whatever_the_json_order() {
    let s = sig(&[("a", Ty::U32), ("b", Ty::String)], None);
    let vals = s
        .args_from_json(Some(&obj(json!({"b": "x", "a": 2}))))
        .expect("valid args");
    assert_eq!(vals, vec![Val::U32(2), Val::String("x".into())]);
}

#[test]
fn missing_required_parameter_is_named() {
    let s = sig(&[("a", Ty::U32), ("b", Ty::String)], None);
    let err = s
        .args_from_json(Some(&obj(json!({"a": 1}))))
        .expect_err("b missing");
    assert_eq!(err.to_string(), "missing required parameter `b`");
    assert_eq!(err.path(), "b");
}

#[test]
fn unknown_parameter_is_named_with_the_known_ones() {
    let s = sig(&[("a", Ty::U32), ("b", Ty::String)], None);
    let err = s
        .args_from_json(Some(&obj(json!({"a": 1, "b": "x", "c": 3}))))
        .expect_err("c unknown");
    assert_eq!(err.to_string(), "unknown parameter `c` (known: `a`, `b`)");
    let err = sig(&[], None)
        .args_from_json(Some(&obj(json!({"c": 3}))))
        .expect_err("c unknown");
    assert_eq!(
        err.to_string(),
        "unknown parameter `c` (this function takes no parameters)"
    );
}

#[test]
fn absent_arguments_mean_an_empty_object() {
    assert_eq!(sig(&[], None).args_from_json(None), Ok(vec![]));
    let s = sig(&[("a", Ty::Option(Box::new(Ty::U8)))], None);
    assert_eq!(s.args_from_json(None), Ok(vec![Val::Option(None)]));
    let err = sig(&[("a", Ty::U8)], None)
        .args_from_json(None)
        .expect_err("a missing");
    assert_eq!(err.to_string(), "missing required parameter `a`");
}

#[test]
fn bad_argument_values_are_reported_at_a_path_rooted_at_the_parameter() {
    let s = sig(
        &[("point", point()), ("items", Ty::List(Box::new(Ty::U8)))],
        None,
    );
    let err = s
        .args_from_json(Some(&obj(
            json!({"point": {"x": 300, "y": 0}, "items": []}),
        )))
        .expect_err("x too big");
    assert_eq!(
        err.to_string(),
        "parameter `point.x`: expected an integer in 0..=255, got 300"
    );
    assert_eq!(err.path(), "point.x");
    let err = s
        .args_from_json(Some(&obj(
            json!({"point": {"x": 1, "y": 0}, "items": [1, 2, 3, -1]}),
        )))
        .expect_err("negative item");
    assert_eq!(
        err.to_string(),
        "parameter `items[3]`: expected an integer in 0..=255, got -1"
    );
    let mode = Ty::Enum(vec!["fast".into(), "slow".into()]);
    let opts = Ty::Record(vec![("mode".into(), mode)]);
    let err = sig(&[("opts", opts)], None)
        .args_from_json(Some(&obj(json!({"opts": {"mode": "medium"}}))))
        .expect_err("bad mode");
    assert_eq!(
        err.to_string(),
        "parameter `opts.mode`: expected one of \"fast\", \"slow\", got \"medium\""
    );
    let err = s
        .args_from_json(Some(&obj(json!({"point": {"x": 1}, "items": []}))))
        .expect_err("y missing");
    assert_eq!(
        err.to_string(),
        "parameter `point`: missing required field `y`"
    );
}

// ---- results ----

#[test]
fn no_result_means_no_output_schema_and_empty_output() {
    let s = sig(&[], None);
    assert_eq!(s.output_schema(), None);
    assert_eq!(s.render_result(&[]), Rendered::default());
    assert_eq!(s.result_len(), 0);
}

#[test]
fn a_record_result_is_the_structured_object_itself() {
    let s = sig(&[], Some(point()));
    let schema = Value::Object(s.output_schema().expect("has schema"));
    assert_eq!(schema["type"], json!("object"));
    assert_eq!(schema["required"], json!(["x", "y"]));
    let r = s.render_result(&[Val::Record(vec![
        ("x".into(), Val::U8(1)),
        ("y".into(), Val::U8(2)),
    ])]);
    let structured = Value::Object(r.structured.clone().expect("structured"));
    assert_eq!(structured, json!({"x": 1, "y": 2}));
    assert!(validator(&schema).is_valid(&structured));
    assert_eq!(r.text.as_deref(), Some(r#"{"x":1,"y":2}"#));
    assert!(!r.is_error);
}

#[test]
fn a_non_record_result_is_wrapped_in_a_result_property() {
    let s = sig(&[], Some(Ty::U32));
    assert_eq!(
        Value::Object(s.output_schema().expect("has schema")),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"result": Ty::U32.json_schema()},
            "required": ["result"],
            "additionalProperties": false,
        })
    );
    let r = s.render_result(&[Val::U32(7)]);
    assert_eq!(r.structured, Some(obj(json!({"result": 7}))));
    assert_eq!(r.text.as_deref(), Some(r#"{"result":7}"#));
}

#[test]
fn a_string_result_is_also_given_as_serialized_structured_text() {
    let s = sig(&[], Some(Ty::String));
    let r = s.render_result(&[Val::String("hello \"world\"".into())]);
    assert_eq!(
        r.structured,
        Some(obj(json!({"result": "hello \"world\""})))
    );
    assert_eq!(r.text.as_deref(), Some(r#"{"result":"hello \"world\""}"#));
    assert!(!r.is_error);
}

#[test]
fn result_ok_is_structured_output_described_by_the_ok_type() {
    let s = sig(&[], Some(string_result()));
    let schema = Value::Object(s.output_schema().expect("has schema"));
    assert_eq!(schema["properties"]["result"], json!({"type": "string"}));
    let r = s.render_result(&[Val::Result(Ok(Some(Box::new(Val::String("done".into())))))]);
    assert_eq!(r.structured, Some(obj(json!({"result": "done"}))));
    assert_eq!(r.text.as_deref(), Some(r#"{"result":"done"}"#));
    assert!(!r.is_error);
    let ok_record = sig(
        &[],
        Some(Ty::Result {
            ok: Some(Box::new(point())),
            err: None,
        }),
    );
    let schema = ok_record.output_schema().expect("has schema");
    assert_eq!(schema["required"], json!(["x", "y"]));
}

#[test]
fn result_err_is_a_tool_error_with_the_error_as_text() {
    let s = sig(&[], Some(string_result()));
    let r = s.render_result(&[Val::Result(Err(Some(Box::new(Val::String(
        "no such file".into(),
    )))))]);
    assert_eq!(
        r,
        Rendered {
            structured: None,
            text: Some("no such file".into()),
            is_error: true,
        }
    );
    let s = sig(
        &[],
        Some(Ty::Result {
            ok: None,
            err: Some(Box::new(Ty::Enum(vec!["denied".into()]))),
        }),
    );
    let r = s.render_result(&[Val::Result(Err(Some(Box::new(Val::Enum("denied".into())))))]);
    assert_eq!(r.text.as_deref(), Some("denied"));
    let s = sig(
        &[],
        Some(Ty::Result {
            ok: None,
            err: Some(Box::new(point())),
        }),
    );
    let e = Val::Record(vec![("x".into(), Val::U8(1)), ("y".into(), Val::U8(2))]);
    let r = s.render_result(&[Val::Result(Err(Some(Box::new(e))))]);
    assert_eq!(r.text.as_deref(), Some(r#"{"x":1,"y":2}"#));
    assert!(r.is_error);
}

#[test]
fn result_without_ok_payload_has_no_output_schema_and_empty_ok_output() {
    let s = sig(
        &[],
        Some(Ty::Result {
            ok: None,
            err: None,
        }),
    );
    assert_eq!(s.output_schema(), None);
    assert_eq!(
        s.render_result(&[Val::Result(Ok(None))]),
        Rendered::default()
    );
    assert_eq!(
        s.render_result(&[Val::Result(Err(None))]),
        Rendered {
            structured: None,
            text: None,
            is_error: true,
        }
    );
}

#[test]
fn results_of_the_wrong_shape_become_errors_not_panics() {
    let s = sig(&[], Some(string_result()));
    let r = s.render_result(&[]);
    assert!(r.is_error);
    assert_eq!(
        r.text.as_deref(),
        Some("internal error: expected 1 result value, got 0")
    );
    let r = s.render_result(&[Val::U8(1)]);
    assert!(r.is_error && r.structured.is_none());
    let r = s.render_result(&[Val::Result(Ok(Some(Box::new(Val::U8(1)))))]);
    assert!(r.is_error);
    assert_eq!(
        r.text.as_deref(),
        Some("internal error: result: value of kind u8 does not fit type string")
    );
    let r = sig(&[], Some(point())).render_result(&[Val::Record(vec![("x".into(), Val::U8(1))])]);
    assert!(r.is_error);
}

#[test]
fn signature_renders_as_wit() {
    let s = sig(&[("a", Ty::U32), ("b", Ty::String)], Some(string_result()));
    assert_eq!(
        s.wit(""),
        "func(a: u32, b: string) -> result<string, string>"
    );
    assert_eq!(
        s.wit("run"),
        "run: func(a: u32, b: string) -> result<string, string>"
    );
    assert_eq!(sig(&[], None).wit("f"), "f: func()");
    assert_eq!(s.result_len(), 1);
}
