//! The JSON mapping, one type at a time, as written in the crate docs: what
//! each type accepts, what it rejects and with which message, and what it
//! renders. Every accept/reject here is also checked against the type's
//! JSON Schema, so these examples pin the schema down too.

mod common;

use common::validator;
use serde_json::{Value, json};
use wasmtime::component::Val;
use weld_schema::Ty;

/// Converts `json`, asserting the schema agrees it is valid.
fn accept(ty: &Ty, json: Value) -> Val {
    assert!(
        validator(&ty.json_schema()).is_valid(&json),
        "schema of {} rejects {json}",
        ty.wit()
    );
    match ty.to_val(&json) {
        Ok(v) => v,
        Err(e) => panic!("{} rejects {json}: {e}", ty.wit()),
    }
}

/// Fails to convert `json`, asserting the schema agrees it is invalid;
/// returns the error message.
fn reject(ty: &Ty, json: Value) -> String {
    assert!(
        !validator(&ty.json_schema()).is_valid(&json),
        "schema of {} accepts {json}",
        ty.wit()
    );
    match ty.to_val(&json) {
        Ok(v) => panic!("{} accepts {json} as {v:?}", ty.wit()),
        Err(e) => e.to_string(),
    }
}

fn list(t: Ty) -> Ty {
    Ty::List(Box::new(t))
}

fn option(t: Ty) -> Ty {
    Ty::Option(Box::new(t))
}

fn names(ns: &[&str]) -> Vec<String> {
    ns.iter().map(|s| s.to_string()).collect()
}

fn record(fields: &[(&str, Ty)]) -> Ty {
    Ty::Record(
        fields
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect(),
    )
}

// ---- bool ----

#[test]
fn bool_is_a_json_boolean() {
    assert_eq!(Ty::Bool.json_schema(), json!({"type": "boolean"}));
    assert_eq!(accept(&Ty::Bool, json!(true)), Val::Bool(true));
    assert_eq!(Ty::Bool.from_val(&Val::Bool(false)), json!(false));
    assert_eq!(reject(&Ty::Bool, json!(1)), "expected a boolean, got 1");
    assert_eq!(
        reject(&Ty::Bool, json!("true")),
        "expected a boolean, got \"true\""
    );
}

// ---- integers ----

/// (type, min, max, one below min, one above max) — the "past" values as
/// JSON text, parsed the way a request body would be.
fn integer_types() -> Vec<(Ty, i128, i128, &'static str, &'static str)> {
    vec![
        (Ty::S8, -128, 127, "-129", "128"),
        (Ty::U8, 0, 255, "-1", "256"),
        (Ty::S16, -32768, 32767, "-32769", "32768"),
        (Ty::U16, 0, 65535, "-1", "65536"),
        (
            Ty::S32,
            -2147483648,
            2147483647,
            "-2147483649",
            "2147483648",
        ),
        (Ty::U32, 0, 4294967295, "-1", "4294967296"),
        // -2^63-1 is not representable once parsed (it becomes the f64
        // -2^63, which *is* in range), so the next f64 below is used.
        (
            Ty::S64,
            i64::MIN.into(),
            i64::MAX.into(),
            "-9223372036854777856",
            "9223372036854775808",
        ),
        (Ty::U64, 0, u64::MAX.into(), "-1", "18446744073709551616"),
    ]
}

fn int_val(ty: &Ty, n: i128) -> Val {
    match ty {
        Ty::S8 => Val::S8(n as i8),
        Ty::U8 => Val::U8(n as u8),
        Ty::S16 => Val::S16(n as i16),
        Ty::U16 => Val::U16(n as u16),
        Ty::S32 => Val::S32(n as i32),
        Ty::U32 => Val::U32(n as u32),
        Ty::S64 => Val::S64(n as i64),
        Ty::U64 => Val::U64(n as u64),
        _ => unreachable!(),
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("test JSON parses")
}

#[test]
fn every_integer_type_accepts_both_bounds_and_rejects_one_past_each() {
    for (ty, min, max, below, above) in integer_types() {
        assert_eq!(
            accept(&ty, parse(&min.to_string())),
            int_val(&ty, min),
            "{ty}"
        );
        assert_eq!(
            accept(&ty, parse(&max.to_string())),
            int_val(&ty, max),
            "{ty}"
        );
        for past in [below, above] {
            let message = reject(&ty, parse(past));
            assert!(
                message.starts_with(&format!("expected an integer in {min}..={max}, got ")),
                "{ty}: {message}"
            );
        }
    }
}

#[test]
fn integer_schemas_carry_exact_bounds() {
    assert_eq!(
        Ty::U8.json_schema(),
        json!({"type": "integer", "minimum": 0, "maximum": 255})
    );
    // Compared as text: the bounds must be exact integers, not floats.
    let u64_schema = Ty::U64.json_schema();
    assert_eq!(u64_schema["maximum"].to_string(), "18446744073709551615");
    assert_eq!(u64_schema["minimum"].to_string(), "0");
    let s64_schema = Ty::S64.json_schema();
    assert_eq!(s64_schema["maximum"].to_string(), "9223372036854775807");
    assert_eq!(s64_schema["minimum"].to_string(), "-9223372036854775808");
}

#[test]
fn integers_accept_integral_floats_like_json_schema_does() {
    assert_eq!(accept(&Ty::U8, json!(3.0)), Val::U8(3));
    assert_eq!(accept(&Ty::U8, parse("1e2")), Val::U8(100));
    assert_eq!(accept(&Ty::U8, json!(-0.0)), Val::U8(0));
    assert_eq!(
        accept(&Ty::S64, json!(-9223372036854775808.0)),
        Val::S64(i64::MIN)
    );
    assert_eq!(accept(&Ty::U8, json!(255.0)), Val::U8(255));
}

#[test]
fn integers_reject_fractions_strings_and_null() {
    assert_eq!(
        reject(&Ty::U8, json!(1.5)),
        "expected an integer in 0..=255, got 1.5"
    );
    assert_eq!(
        reject(&Ty::S32, json!("7")),
        "expected an integer in -2147483648..=2147483647, got \"7\""
    );
    reject(&Ty::U64, json!(null));
    reject(&Ty::U64, json!(1e300));
    reject(&Ty::S8, json!([1]));
}

#[test]
fn integers_render_as_exact_json_integers() {
    assert_eq!(
        Ty::U64.from_val(&Val::U64(u64::MAX)).to_string(),
        "18446744073709551615"
    );
    assert_eq!(
        Ty::S64.from_val(&Val::S64(i64::MIN)).to_string(),
        "-9223372036854775808"
    );
    assert_eq!(Ty::S8.from_val(&Val::S8(-1)), json!(-1));
}

// ---- floats ----

#[test]
fn floats_accept_numbers_and_the_three_non_finite_names() {
    assert_eq!(accept(&Ty::F64, json!(1.5)), Val::Float64(1.5));
    assert_eq!(accept(&Ty::F64, json!(3)), Val::Float64(3.0));
    assert_eq!(
        accept(&Ty::F64, json!(u64::MAX)),
        Val::Float64(u64::MAX as f64)
    );
    assert!(matches!(accept(&Ty::F64, json!("NaN")), Val::Float64(x) if x.is_nan()));
    assert_eq!(
        accept(&Ty::F64, json!("Infinity")),
        Val::Float64(f64::INFINITY)
    );
    assert_eq!(
        accept(&Ty::F32, json!("-Infinity")),
        Val::Float32(f32::NEG_INFINITY)
    );
    let message = reject(&Ty::F64, json!("nan"));
    assert_eq!(
        message,
        "expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got \"nan\""
    );
    reject(&Ty::F64, json!("1.5"));
    reject(&Ty::F32, json!(null));
}

#[test]
fn non_finite_floats_render_as_names_and_round_trip() {
    assert_eq!(Ty::F64.from_val(&Val::Float64(f64::NAN)), json!("NaN"));
    assert_eq!(
        Ty::F32.from_val(&Val::Float32(f32::INFINITY)),
        json!("Infinity")
    );
    assert_eq!(
        Ty::F64.from_val(&Val::Float64(f64::NEG_INFINITY)),
        json!("-Infinity")
    );
}

#[test]
fn negative_zero_is_kept_and_rendered_as_minus_zero() {
    let json = Ty::F64.from_val(&Val::Float64(-0.0));
    assert_eq!(json.to_string(), "-0.0");
    assert!(matches!(accept(&Ty::F64, json), Val::Float64(x) if x == 0.0 && x.is_sign_negative()));
    assert_eq!(Ty::F32.from_val(&Val::Float32(-0.0)).to_string(), "-0.0");
}

#[test]
fn f32_renders_the_shortest_decimal_that_reads_back() {
    assert_eq!(Ty::F32.from_val(&Val::Float32(0.1)).to_string(), "0.1");
    assert_eq!(Ty::F32.from_val(&Val::Float32(1.0)).to_string(), "1.0");
    assert_eq!(accept(&Ty::F32, json!(0.1)), Val::Float32(0.1));
}

#[test]
fn f32_max_renders_exactly_so_it_stays_inside_the_schema_bound() {
    let json = Ty::F32.from_val(&Val::Float32(f32::MAX));
    assert_eq!(json.to_string(), "3.4028234663852886e+38");
    assert_eq!(accept(&Ty::F32, json), Val::Float32(f32::MAX));
    let json = Ty::F32.from_val(&Val::Float32(f32::MIN));
    assert_eq!(accept(&Ty::F32, json), Val::Float32(f32::MIN));
}

#[test]
fn f32_rejects_finite_numbers_outside_its_range() {
    // The shortest f32 text for f32::MAX is slightly larger than f32::MAX.
    let message = reject(&Ty::F32, parse("3.4028235e38"));
    assert!(message.contains("(the f32 range)"), "{message}");
    reject(&Ty::F32, json!(1e39));
    reject(&Ty::F32, json!(-1e39));
    // f64 has no such limit.
    accept(&Ty::F64, json!(1e300));
    // Tiny values round (to zero), they are not out of range.
    assert_eq!(accept(&Ty::F32, json!(1e-50)), Val::Float32(0.0));
}

#[test]
fn float_schemas_have_a_number_branch_and_a_name_branch() {
    assert_eq!(
        Ty::F64.json_schema(),
        json!({"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]})
    );
    assert_eq!(
        Ty::F32.json_schema(),
        json!({"anyOf": [
            {"type": "number", "minimum": -(f32::MAX as f64), "maximum": f32::MAX as f64},
            {"enum": ["NaN", "Infinity", "-Infinity"]},
        ]})
    );
}

// ---- char & string ----

#[test]
fn char_is_a_string_of_exactly_one_code_point() {
    assert_eq!(
        Ty::Char.json_schema(),
        json!({"type": "string", "minLength": 1, "maxLength": 1})
    );
    assert_eq!(accept(&Ty::Char, json!("x")), Val::Char('x'));
    // One code point, two UTF-16 units, four UTF-8 bytes.
    assert_eq!(
        accept(&Ty::Char, json!("\u{1F600}")),
        Val::Char('\u{1F600}')
    );
    assert_eq!(
        reject(&Ty::Char, json!("ab")),
        "expected a string of exactly one character (Unicode code point), got \"ab\""
    );
    reject(&Ty::Char, json!(""));
    // "é" as e + combining accent is two code points.
    reject(&Ty::Char, json!("e\u{301}"));
    reject(&Ty::Char, json!(65));
    assert_eq!(Ty::Char.from_val(&Val::Char('é')), json!("é"));
}

#[test]
fn string_is_a_json_string() {
    assert_eq!(Ty::String.json_schema(), json!({"type": "string"}));
    assert_eq!(accept(&Ty::String, json!("")), Val::String(String::new()));
    assert_eq!(
        reject(&Ty::String, json!(null)),
        "expected a string, got null"
    );
}

#[test]
fn long_strings_are_cut_in_error_messages() {
    let long = "x".repeat(100);
    let message = reject(&Ty::U8, json!(long));
    assert!(message.ends_with("…"), "{message}");
    assert!(message.len() < 100, "{message}");
}

// ---- lists & tuples ----

#[test]
fn list_is_an_array_and_errors_name_the_index() {
    let ty = list(Ty::U8);
    assert_eq!(
        ty.json_schema(),
        json!({"type": "array", "items": Ty::U8.json_schema()})
    );
    assert_eq!(
        accept(&ty, json!([1, 2])),
        Val::List(vec![Val::U8(1), Val::U8(2)])
    );
    assert_eq!(accept(&ty, json!([])), Val::List(vec![]));
    assert_eq!(
        reject(&ty, json!([1, 2, 3, 300])),
        "at `[3]`: expected an integer in 0..=255, got 300"
    );
    assert_eq!(
        reject(&ty, json!({"0": 1})),
        "expected an array, got an object with `0`"
    );
}

#[test]
fn fixed_length_list_requires_exactly_n_items() {
    let ty = Ty::FixedList(Box::new(Ty::Bool), 2);
    assert_eq!(
        ty.json_schema(),
        json!({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2})
    );
    assert_eq!(
        accept(&ty, json!([true, false])),
        Val::FixedLengthList(vec![Val::Bool(true), Val::Bool(false)])
    );
    assert_eq!(
        reject(&ty, json!([true])),
        "expected an array of exactly 2 items, got an array of 1 item"
    );
    reject(&ty, json!([true, false, true]));
    assert_eq!(ty.wit(), "list<bool, 2>");
}

#[test]
fn tuple_is_a_fixed_array_and_rejects_extra_or_missing_items() {
    let ty = Ty::Tuple(vec![Ty::U8, Ty::String]);
    assert_eq!(
        ty.json_schema(),
        json!({
            "type": "array",
            "prefixItems": [Ty::U8.json_schema(), {"type": "string"}],
            "items": {"not": {}},
            "minItems": 2,
            "maxItems": 2,
        })
    );
    assert_eq!(
        accept(&ty, json!([1, "a"])),
        Val::Tuple(vec![Val::U8(1), Val::String("a".into())])
    );
    assert_eq!(
        reject(&ty, json!([1, "a", 2])),
        "expected an array of exactly 2 items, got an array of 3 items"
    );
    reject(&ty, json!([1]));
    assert_eq!(
        reject(&ty, json!(["a", 1])),
        "at `[0]`: expected an integer in 0..=255, got \"a\""
    );
}

// ---- records ----

#[test]
fn record_is_an_object_with_required_non_option_fields() {
    let ty = record(&[("x", Ty::U8), ("label", option(Ty::String))]);
    assert_eq!(
        ty.json_schema(),
        json!({
            "type": "object",
            "properties": {
                "x": Ty::U8.json_schema(),
                "label": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            },
            "required": ["x"],
            "additionalProperties": false,
        })
    );
    let full = Val::Record(vec![
        ("x".into(), Val::U8(1)),
        (
            "label".into(),
            Val::Option(Some(Box::new(Val::String("p".into())))),
        ),
    ]);
    assert_eq!(accept(&ty, json!({"x": 1, "label": "p"})), full);
    assert_eq!(ty.from_val(&full), json!({"x": 1, "label": "p"}));
}

#[test]
fn record_option_fields_may_be_omitted_or_null_and_render_as_null() {
    let ty = record(&[("x", Ty::U8), ("label", option(Ty::String))]);
    let none = Val::Record(vec![
        ("x".into(), Val::U8(1)),
        ("label".into(), Val::Option(None)),
    ]);
    assert_eq!(accept(&ty, json!({"x": 1})), none);
    assert_eq!(accept(&ty, json!({"x": 1, "label": null})), none);
    assert_eq!(ty.from_val(&none), json!({"x": 1, "label": null}));
}

#[test]
fn record_rejects_missing_and_unknown_fields_naming_them() {
    let ty = record(&[("x", Ty::U8), ("y", Ty::U8)]);
    assert_eq!(reject(&ty, json!({"x": 1})), "missing required field `y`");
    assert_eq!(
        reject(&ty, json!({"x": 1, "y": 2, "z": 3})),
        "unknown field `z` (known: `x`, `y`)"
    );
    assert_eq!(
        reject(&ty, json!([1, 2])),
        "expected an object with fields `x`, `y`, got an array of 2 items"
    );
}

#[test]
fn nested_errors_name_the_full_path() {
    let point = record(&[("x", Ty::U8)]);
    let ty = record(&[("points", list(point))]);
    assert_eq!(
        reject(&ty, json!({"points": [{"x": 1}, {"x": 300}]})),
        "at `points[1].x`: expected an integer in 0..=255, got 300"
    );
}

// ---- variants & enums ----

fn shape() -> Ty {
    Ty::Variant(vec![
        ("none".into(), None),
        ("circle".into(), Some(Ty::U32)),
    ])
}

#[test]
fn variant_case_without_payload_is_its_name_and_with_payload_a_one_key_object() {
    assert_eq!(
        shape().json_schema(),
        json!({"oneOf": [
            {"const": "none"},
            {
                "type": "object",
                "properties": {"circle": Ty::U32.json_schema()},
                "required": ["circle"],
                "additionalProperties": false,
            },
        ]})
    );
    let none = Val::Variant("none".into(), None);
    let circle = Val::Variant("circle".into(), Some(Box::new(Val::U32(5))));
    assert_eq!(accept(&shape(), json!("none")), none);
    assert_eq!(accept(&shape(), json!({"circle": 5})), circle);
    assert_eq!(shape().from_val(&none), json!("none"));
    assert_eq!(shape().from_val(&circle), json!({"circle": 5}));
}

#[test]
fn variant_rejects_unknown_cases_and_misplaced_payloads() {
    assert_eq!(
        reject(&shape(), json!("square")),
        "expected one of \"none\" or an object with exactly one of the properties `circle`, got \"square\""
    );
    assert_eq!(
        reject(&shape(), json!("circle")),
        "case `circle` carries a payload: expected {\"circle\": …}, got \"circle\""
    );
    assert_eq!(
        reject(&shape(), json!({"none": null})),
        "case `none` has no payload: expected the string \"none\", got an object with `none`"
    );
    reject(&shape(), json!({"circle": 1, "none": null}));
    reject(&shape(), json!({}));
    assert_eq!(
        reject(&shape(), json!({"circle": -1})),
        "at `circle`: expected an integer in 0..=4294967295, got -1"
    );
}

#[test]
fn enum_is_a_string_from_the_case_names() {
    let ty = Ty::Enum(names(&["fast", "slow"]));
    assert_eq!(
        ty.json_schema(),
        json!({"type": "string", "enum": ["fast", "slow"]})
    );
    assert_eq!(accept(&ty, json!("slow")), Val::Enum("slow".into()));
    assert_eq!(
        reject(&ty, json!("medium")),
        "expected one of \"fast\", \"slow\", got \"medium\""
    );
    reject(&ty, json!(0));
}

// ---- options & results ----

#[test]
fn option_is_null_or_the_value() {
    let ty = option(Ty::U8);
    assert_eq!(
        ty.json_schema(),
        json!({"anyOf": [{"type": "null"}, Ty::U8.json_schema()]})
    );
    assert_eq!(accept(&ty, json!(null)), Val::Option(None));
    assert_eq!(
        accept(&ty, json!(7)),
        Val::Option(Some(Box::new(Val::U8(7))))
    );
    assert_eq!(ty.from_val(&Val::Option(None)), json!(null));
    reject(&ty, json!(256));
}

#[test]
fn nested_option_wraps_some_in_an_object_to_stay_unambiguous() {
    let ty = option(option(Ty::U8));
    let none = Val::Option(None);
    let some_none = Val::Option(Some(Box::new(Val::Option(None))));
    let some_some = Val::Option(Some(Box::new(Val::Option(Some(Box::new(Val::U8(1)))))));
    assert_eq!(ty.from_val(&none), json!(null));
    assert_eq!(ty.from_val(&some_none), json!({"some": null}));
    assert_eq!(ty.from_val(&some_some), json!({"some": 1}));
    assert_eq!(accept(&ty, json!(null)), none);
    assert_eq!(accept(&ty, json!({"some": null})), some_none);
    assert_eq!(accept(&ty, json!({"some": 1})), some_some);
    assert_eq!(
        reject(&ty, json!(1)),
        "expected null or an object {\"some\": …}, got 1"
    );
    reject(&ty, json!({"some": 1, "other": 2}));
}

#[test]
fn result_is_an_object_with_exactly_one_of_ok_or_err() {
    let ty = Ty::Result {
        ok: Some(Box::new(Ty::U8)),
        err: Some(Box::new(Ty::String)),
    };
    let ok = Val::Result(Ok(Some(Box::new(Val::U8(1)))));
    let err = Val::Result(Err(Some(Box::new(Val::String("bad".into())))));
    assert_eq!(accept(&ty, json!({"ok": 1})), ok);
    assert_eq!(accept(&ty, json!({"err": "bad"})), err);
    assert_eq!(ty.from_val(&ok), json!({"ok": 1}));
    assert_eq!(ty.from_val(&err), json!({"err": "bad"}));
    assert_eq!(
        reject(&ty, json!({"ok": 1, "err": "bad"})),
        "expected an object with exactly one of the properties `ok`, `err`, got an object with `err`, `ok`"
    );
    reject(&ty, json!({}));
    reject(&ty, json!({"Ok": 1}));
    assert_eq!(
        reject(&ty, json!({"err": 1})),
        "at `err`: expected a string, got 1"
    );
}

#[test]
fn result_without_payload_uses_null() {
    let ty = Ty::Result {
        ok: None,
        err: Some(Box::new(Ty::String)),
    };
    assert_eq!(accept(&ty, json!({"ok": null})), Val::Result(Ok(None)));
    assert_eq!(ty.from_val(&Val::Result(Ok(None))), json!({"ok": null}));
    assert_eq!(
        reject(&ty, json!({"ok": 5})),
        "at `ok`: expected null (this case has no payload), got 5"
    );
    assert_eq!(ty.wit(), "result<_, string>");
}

// ---- flags ----

#[test]
fn flags_are_an_array_of_distinct_names_rendered_in_declaration_order() {
    let ty = Ty::Flags(names(&["read", "write", "exec"]));
    assert_eq!(
        ty.json_schema(),
        json!({
            "type": "array",
            "items": {"type": "string", "enum": ["read", "write", "exec"]},
            "uniqueItems": true,
        })
    );
    let v = accept(&ty, json!(["exec", "read"]));
    assert_eq!(v, Val::Flags(names(&["read", "exec"])));
    assert_eq!(ty.from_val(&v), json!(["read", "exec"]));
    assert_eq!(accept(&ty, json!([])), Val::Flags(vec![]));
}

#[test]
fn flags_reject_duplicates_and_unknown_names() {
    let ty = Ty::Flags(names(&["read", "write"]));
    assert_eq!(
        reject(&ty, json!(["read", "read"])),
        "at `[1]`: duplicate flag \"read\""
    );
    assert_eq!(
        reject(&ty, json!(["read", "delete"])),
        "at `[1]`: expected one of \"read\", \"write\", got \"delete\""
    );
    reject(&ty, json!("read"));
}

// ---- maps ----

#[test]
fn string_keyed_map_is_an_object() {
    let ty = Ty::Map(Box::new(Ty::String), Box::new(Ty::U8));
    assert_eq!(
        ty.json_schema(),
        json!({"type": "object", "additionalProperties": Ty::U8.json_schema()})
    );
    let v = accept(&ty, json!({"a": 1}));
    assert_eq!(v, Val::Map(vec![(Val::String("a".into()), Val::U8(1))]));
    assert_eq!(ty.from_val(&v), json!({"a": 1}));
    assert_eq!(
        reject(&ty, json!({"a": 1, "b c": 256})),
        "at `[\"b c\"]`: expected an integer in 0..=255, got 256"
    );
}

#[test]
fn other_maps_are_arrays_of_key_value_pairs() {
    let ty = Ty::Map(Box::new(Ty::U32), Box::new(Ty::Bool));
    let v = accept(&ty, json!([[1, true], [2, false]]));
    assert_eq!(
        v,
        Val::Map(vec![
            (Val::U32(1), Val::Bool(true)),
            (Val::U32(2), Val::Bool(false)),
        ])
    );
    assert_eq!(ty.from_val(&v), json!([[1, true], [2, false]]));
    assert_eq!(
        reject(&ty, json!([[1, true, 3]])),
        "at `[0]`: expected a [key, value] array of 2 items, got an array of 3 items"
    );
    assert_eq!(
        reject(&ty, json!([["1", true]])),
        "at `[0][0]`: expected an integer in 0..=4294967295, got \"1\""
    );
    reject(&ty, json!({"1": true}));
}

// ---- rendering & robustness ----

#[test]
fn wit_rendering_reads_like_wit() {
    assert_eq!(
        list(Ty::Tuple(vec![Ty::U8, Ty::String])).wit(),
        "list<tuple<u8, string>>"
    );
    assert_eq!(
        Ty::Result {
            ok: Some(Box::new(Ty::String)),
            err: None
        }
        .wit(),
        "result<string>"
    );
    assert_eq!(
        Ty::Result {
            ok: None,
            err: None
        }
        .wit(),
        "result"
    );
    assert_eq!(
        record(&[("x", Ty::F32), ("y", option(Ty::Char))]).wit(),
        "record { x: f32, y: option<char> }"
    );
    assert_eq!(shape().wit(), "variant { none, circle(u32) }");
    assert_eq!(Ty::Flags(names(&["a", "b"])).wit(), "flags { a, b }");
    assert_eq!(Ty::Enum(names(&["a"])).to_string(), "enum { a }");
    assert_eq!(
        Ty::Map(Box::new(Ty::String), Box::new(Ty::S64)).wit(),
        "map<string, s64>"
    );
}

#[test]
fn a_value_of_the_wrong_shape_is_reported_not_panicked_on() {
    let ty = record(&[("x", Ty::U8)]);
    let wrong = Val::Record(vec![("x".into(), Val::String("no".into()))]);
    let err = ty.try_from_val(&wrong).expect_err("mismatch detected");
    assert_eq!(err.path(), "x");
    assert_eq!(
        err.to_string(),
        "at `x`: value of kind string does not fit type u8"
    );
    // The total version still renders something.
    assert_eq!(ty.from_val(&wrong), json!({"x": "no"}));
    assert!(
        Ty::Enum(names(&["a"]))
            .try_from_val(&Val::Enum("b".into()))
            .is_err()
    );
    assert!(
        Ty::Flags(names(&["a"]))
            .try_from_val(&Val::Flags(names(&["b"])))
            .is_err()
    );
    assert!(
        Ty::FixedList(Box::new(Ty::U8), 2)
            .try_from_val(&Val::FixedLengthList(vec![Val::U8(1)]))
            .is_err()
    );
}

#[test]
fn deeply_nested_json_is_rejected_at_the_depth_of_the_type() {
    let mut json = json!(1);
    for _ in 0..2000 {
        json = Value::Array(vec![json]);
    }
    let message = list(Ty::U8)
        .to_val(&json)
        .expect_err("too deep")
        .to_string();
    assert_eq!(
        message,
        "at `[0]`: expected an integer in 0..=255, got an array of 1 item"
    );
    // Let go of the nesting iteratively, since dropping is recursive.
    while let Value::Array(mut items) = json {
        json = items.pop().unwrap_or(Value::Null);
    }
}

#[test]
fn error_accessors_separate_path_and_problem() {
    let err = list(Ty::U8).to_val(&json!([0, "x"])).expect_err("bad item");
    assert_eq!(err.path(), "[1]");
    assert_eq!(err.problem(), "expected an integer in 0..=255, got \"x\"");
}
