//! Reading real wasmtime types: the only way to get a `wasmtime::component::Type`
//! is from a compiled component, so these tests compile tiny components
//! (written in WAT) whose imports carry the function types under test, and
//! check what `Ty`/`Signature` make of them — including which types are
//! refused and how the refusal reads.

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type};
use wasmtime::{Config, Engine};
use weld_schema::{
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, Oversize, SchemaPart, SchemaSize, Signature, Ty, TypeError,
};

fn engine() -> Engine {
    let mut config = Config::new();
    config.wasm_component_model(true);
    match Engine::new(&config) {
        Ok(e) => e,
        Err(e) => panic!("engine: {e}"),
    }
}

/// Compiles `wat` and returns the type of its import `name`.
fn import(wat: &str, name: &str) -> ComponentItem {
    let engine = engine();
    let bytes = match wat::parse_str(wat) {
        Ok(b) => b,
        Err(e) => panic!("bad test WAT: {e}"),
    };
    let component = match Component::new(&engine, bytes) {
        Ok(c) => c,
        Err(e) => panic!("component does not compile: {e:?}"),
    };
    let ty = component.component_type();
    match ty.get_import(&engine, name) {
        Some(ext) => ext.ty,
        None => panic!("no import `{name}`"),
    }
}

fn func(wat: &str) -> ComponentFunc {
    match import(wat, "f") {
        ComponentItem::ComponentFunc(f) => f,
        other => panic!("`f` is not a function: {other:?}"),
    }
}

fn signature(wat: &str) -> Result<Signature, String> {
    Signature::from_wasmtime(&func(wat)).map_err(|e| e.to_string())
}

#[test]
fn scalar_params_and_result_are_read_in_order_with_names() {
    let sig = signature(
        r#"(component
            (import "f" (func
                (param "a" bool) (param "b" s8) (param "c" u8) (param "d" s16) (param "e" u16)
                (param "g" s32) (param "h" u32) (param "i" s64) (param "j" u64)
                (param "k" f32) (param "l" f64) (param "m" char) (param "n" string)
                (result string))))"#,
    )
    .expect("supported");
    let expected = [
        ("a", Ty::Bool),
        ("b", Ty::S8),
        ("c", Ty::U8),
        ("d", Ty::S16),
        ("e", Ty::U16),
        ("g", Ty::S32),
        ("h", Ty::U32),
        ("i", Ty::S64),
        ("j", Ty::U64),
        ("k", Ty::F32),
        ("l", Ty::F64),
        ("m", Ty::Char),
        ("n", Ty::String),
    ];
    assert_eq!(
        sig.params,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(sig.result, Some(Ty::String));
}

#[test]
fn compound_types_are_read_structurally() {
    let sig = signature(
        r#"(component
            (type $point' (record (field "x" u8) (field "y" u8)))
            (import "point" (type $point (eq $point')))
            (type $mode' (enum "fast" "slow"))
            (import "mode" (type $mode (eq $mode')))
            (type $perm' (flags "read" "write"))
            (import "perm" (type $perm (eq $perm')))
            (type $shape' (variant (case "none") (case "circle" u32)))
            (import "shape" (type $shape (eq $shape')))
            (import "f" (func
                (param "p" $point) (param "m" $mode) (param "perm" $perm) (param "s" $shape)
                (param "l" (list (tuple u8 string))) (param "o" (option (option u8)))
                (result (result u32 (error string))))))"#,
    )
    .expect("supported");
    let names = |ns: &[&str]| ns.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sig.params,
        vec![
            (
                "p".to_string(),
                Ty::Record(vec![("x".into(), Ty::U8), ("y".into(), Ty::U8)])
            ),
            ("m".to_string(), Ty::Enum(names(&["fast", "slow"]))),
            ("perm".to_string(), Ty::Flags(names(&["read", "write"]))),
            (
                "s".to_string(),
                Ty::Variant(vec![
                    ("none".into(), None),
                    ("circle".into(), Some(Ty::U32))
                ])
            ),
            (
                "l".to_string(),
                Ty::List(Box::new(Ty::Tuple(vec![Ty::U8, Ty::String])))
            ),
            (
                "o".to_string(),
                Ty::Option(Box::new(Ty::Option(Box::new(Ty::U8))))
            ),
        ]
    );
    assert_eq!(
        sig.result,
        Some(Ty::Result {
            ok: Some(Box::new(Ty::U32)),
            err: Some(Box::new(Ty::String)),
        })
    );
    assert_eq!(
        sig.wit("f"),
        "f: func(p: record { x: u8, y: u8 }, m: enum { fast, slow }, perm: flags { read, write }, \
         s: variant { none, circle(u32) }, l: list<tuple<u8, string>>, o: option<option<u8>>) \
         -> result<u32, string>"
    );
}

#[test]
fn a_function_without_result_has_none() {
    let sig = signature(r#"(component (import "f" (func (param "x" u32))))"#).expect("supported");
    assert_eq!(sig.result, None);
    assert_eq!(sig.result_len(), 0);
}

#[test]
fn an_owned_resource_parameter_is_refused_naming_the_parameter() {
    let err = signature(
        r#"(component
            (import "file" (type $file (sub resource)))
            (import "f" (func (param "f" (own $file)))))"#,
    )
    .expect_err("resources have no JSON form");
    assert_eq!(
        err,
        "parameter `f`: resource handle `own<…>` has no JSON representation"
    );
}

#[test]
fn a_borrowed_resource_inside_a_list_is_refused_with_its_path() {
    let err = signature(
        r#"(component
            (import "file" (type $file (sub resource)))
            (import "f" (func (param "files" (list (borrow $file))))))"#,
    )
    .expect_err("resources have no JSON form");
    assert_eq!(
        err,
        "parameter `files[]`: resource handle `borrow<…>` has no JSON representation"
    );
}

#[test]
fn a_resource_inside_a_result_is_refused_naming_the_result() {
    let err = signature(
        r#"(component
            (import "file" (type $file (sub resource)))
            (type $rec' (record (field "handle" (own $file))))
            (import "rec" (type $rec (eq $rec')))
            (import "f" (func (result (result $rec (error string))))))"#,
    )
    .expect_err("resources have no JSON form");
    assert_eq!(
        err,
        "result at `ok.handle`: resource handle `own<…>` has no JSON representation"
    );
}

#[test]
fn a_bare_type_converts_through_ty_from_wasmtime() {
    let f = func(
        r#"(component
            (import "file" (type $file (sub resource)))
            (type $t' (record (field "n" (list u8))))
            (import "t" (type $t (eq $t')))
            (import "f" (func (param "a" $t) (param "b" (tuple u8 (own $file))))))"#,
    );
    let types: Vec<Type> = f.params().map(|(_, t)| t).collect();
    assert!(matches!(types[0], Type::Record(_)));
    assert_eq!(
        Ty::from_wasmtime(&types[0]),
        Ok(Ty::Record(vec![("n".into(), Ty::List(Box::new(Ty::U8)))]))
    );
    let Err(TypeError::Unsupported(err)) = Ty::from_wasmtime(&types[1]) else {
        panic!("a resource has no JSON form");
    };
    assert_eq!(
        err.to_string(),
        "type at `[1]`: resource handle `own<…>` has no JSON representation"
    );
    assert_eq!(err.path(), "[1]");
    assert_eq!(err.what(), "resource handle `own<…>`");
}

/// A function `f` taking `x`, a record of `fields` fields (names of
/// `name_len` bytes) of a record of `fields` fields … `levels` deep, the
/// lowest holding `u8`s: every level uses the one below it `fields` times,
/// so the schema grows as `fields^levels` while the WAT grows as `levels`.
fn nested_records(levels: usize, fields: usize, name_len: usize) -> String {
    let name = |j: usize| format!("f{j}-{}", "x".repeat(name_len - 3));
    let mut wat = String::from("(component\n");
    for level in 0..levels {
        let part = if level == 0 {
            "u8".to_string()
        } else {
            format!("$r{}", level - 1)
        };
        wat.push_str(&format!("(type $r{level}' (record"));
        for j in 0..fields {
            wat.push_str(&format!(" (field \"{}\" {part})", name(j)));
        }
        wat.push_str("))\n");
        wat.push_str(&format!(
            "(import \"r{level}\" (type $r{level} (eq $r{level}')))\n"
        ));
    }
    wat.push_str(&format!(
        "(import \"f\" (func (param \"x\" $r{}) (result $r{}))))",
        levels - 1,
        levels - 1
    ));
    wat
}

#[test]
fn a_shared_type_that_expands_past_the_cap_is_refused_after_at_most_the_cap() {
    // 4^8 leaves, 21845 records of ~7 KB each: ~160 MB of schema each for
    // parameter and result, from a component of ~30 KB. (A level more and
    // the validator's own limit on type size refuses it.)
    let f = func(&nested_records(8, 4, 900));
    let err = Signature::from_wasmtime(&f).expect_err("over the cap");
    let TypeError::TooLarge(too_large) = &err else {
        panic!("expected TooLarge, got {err}");
    };
    assert_eq!(too_large.part(), SchemaPart::Input);
    let Oversize::MoreBytesThan(spent) = too_large.oversize() else {
        panic!("expected a lower bound, got {:?}", too_large.oversize());
    };
    // It stopped within one record of the cap: the largest node here (a
    // record of 4 fields of 900-byte names) is under 8 KB of its own.
    assert!(spent > MAX_SCHEMA_BYTES, "{spent}");
    assert!(spent <= MAX_SCHEMA_BYTES + 8 * 1024, "{spent}");
    assert_eq!(
        err.to_string(),
        format!(
            "the input schema is more than {spent} bytes of JSON (the cap is 262144 bytes; \
             shared types are written out in full at every use)"
        )
    );
}

#[test]
fn a_shared_type_just_under_the_cap_is_read_whole_and_measured_exactly() {
    // 4 levels of 4 fields: 85 records; 350-byte names put the schema just
    // under 256 KiB.
    let f = func(&nested_records(4, 4, 350));
    let sig = Signature::from_wasmtime(&f).expect("within the cap");
    let ty = &sig.params[0].1;
    let size = ty.schema_size();
    let built = ty.json_schema();
    assert_eq!(size, SchemaSize::of(&built));
    assert_eq!(size.bytes, built.to_string().len() as u64);
    assert!(size.bytes <= MAX_SCHEMA_BYTES);
    assert!(size.bytes > MAX_SCHEMA_BYTES - 16 * 1024, "{}", size.bytes);
}

#[test]
fn the_result_has_a_budget_of_its_own() {
    // Parameter and result each just under the cap: both fit, although
    // together they are over it.
    let f = func(&nested_records(4, 4, 350));
    let sig = Signature::from_wasmtime(&f).expect("each within the cap");
    let result = sig.result.as_ref().expect("a result");
    assert!(result.schema_size().bytes + sig.params[0].1.schema_size().bytes > MAX_SCHEMA_BYTES);
}

#[test]
fn a_type_nested_past_the_depth_cap_is_refused_naming_the_depth() {
    // Each `option<option<…>>` level adds four levels of JSON.
    let mut ty = "u8".to_string();
    for _ in 0..20 {
        ty = format!("(option {ty})");
    }
    let err = signature(&format!(
        r#"(component (import "f" (func (param "deep" {ty}))))"#
    ))
    .expect_err("too deep");
    assert!(
        err.starts_with("the input schema nests ")
            && err.contains(&format!("the cap is {MAX_SCHEMA_DEPTH} levels")),
        "{err}"
    );
}

#[test]
fn ty_from_wasmtime_is_bounded_too() {
    let f = func(&nested_records(8, 4, 900));
    let (_, ty) = f.params().next().expect("a parameter");
    let err = Ty::from_wasmtime(&ty).expect_err("over the cap");
    assert!(
        matches!(&err, TypeError::TooLarge(e) if e.part() == SchemaPart::Type),
        "{err}"
    );
}
