//! The two readers of a component's exports — Wasmtime's compiled types and
//! the validator's types — must agree exactly: `weld inspect` shows what
//! `weld serve` would serve. Checked on every guest component in the
//! repository, on generated components whose types share sub-types
//! (including ones over the size caps and ones with resources), and on a
//! component that does not link.

use std::path::PathBuf;

use proptest::prelude::*;
use wasmtime::component::Component;

use super::{ExportedFunctionType, exported_functions, top_level, uncompiled};
use crate::{Runtime, RuntimeConfig, RuntimeError};

fn runtime() -> (tempfile::TempDir, Runtime) {
    let cache = tempfile::tempdir().expect("tempdir");
    let mut config = RuntimeConfig::new(cache.path().to_path_buf());
    config.max_instances = 1;
    config.max_metered_instances = 1;
    let runtime = Runtime::new(&config).expect("runtime");
    (cache, runtime)
}

/// What the compiled path says: exports from Wasmtime's types, or the
/// compile error.
fn compiled(runtime: &Runtime, wasm: &[u8]) -> Result<Vec<ExportedFunctionType>, String> {
    let engine = &runtime.plain.engine;
    let component = Component::new(engine, wasm).map_err(|e| format!("{e:?}"))?;
    Ok(exported_functions(engine, &component)
        .functions
        .iter()
        .map(super::ExportedFunction::function_type)
        .collect())
}

fn repository_components() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build the guest components with scripts/build-components.sh",
                dir.display()
            )
        })
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "wasm"))
        .collect();
    found.sort();
    found
}

#[test]
fn short_interface_name_drops_package_and_version() {
    assert_eq!(super::short_interface_name("ns:pkg/text@0.1.0"), "text");
    assert_eq!(super::short_interface_name("ns:pkg/text"), "text");
    assert_eq!(super::short_interface_name("inline"), "inline");
}

#[test]
fn inspection_without_compiling_equals_the_compiled_description_for_every_guest() {
    let (_cache, runtime) = runtime();
    let components = repository_components();
    assert!(components.len() >= 5, "{components:?}");
    for path in components {
        let wasm = std::fs::read(&path).expect("read");
        let inspected = runtime.inspect(&wasm).expect("inspect");
        let loaded = runtime
            .load(&path.display().to_string(), crate::Metering::Off, || {
                Ok(wasm.clone())
            })
            .expect("load");
        let from_compiled: Vec<_> = loaded
            .functions()
            .iter()
            .map(super::ExportedFunction::function_type)
            .collect();
        // Every guest offers something: functions, or an MCP world.
        assert!(
            !from_compiled.is_empty() || loaded.mcp().is_some(),
            "{}",
            path.display()
        );
        assert_eq!(inspected.functions, from_compiled, "{}", path.display());
        assert_eq!(inspected.mcp.as_ref(), loaded.mcp(), "{}", path.display());
        assert_eq!(inspected.imports, loaded.imports(), "{}", path.display());
        assert_eq!(inspected.link_error, None, "{}", path.display());
    }
}

/// A component exporting wasmcp's interfaces is of that world, and its
/// list and call functions are not tools, whichever reader looks.
#[test]
fn an_mcp_worlds_exports_are_recognised_not_served_as_functions() {
    let (_cache, runtime) = runtime();
    let wasm = wat::parse_str(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $tools (export "list-tools" (func $f)) (export "call-tool" (func $f)))
            (instance $other (export "f" (func $f)))
            (export "wasmcp:mcp-v20251125/tools@0.1.1" (instance $tools))
            (export "wasmcp:mcp-v20251125/completions@0.1.0" (instance $other))
            (export "plain" (func $f)))"#,
    )
    .expect("WAT");
    let inspected = runtime.inspect(&wasm).expect("inspect");
    let expected = crate::McpExportsInfo {
        world: crate::McpWorld::Wasmcp20251125,
        interfaces: vec![crate::McpInterface::Tools, crate::McpInterface::Completions],
    };
    assert_eq!(inspected.mcp.as_ref(), Some(&expected));
    let names: Vec<&str> = inspected
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["plain"]);
    let engine = &runtime.plain.engine;
    let component = Component::new(engine, &wasm).expect("compiles");
    let exports = exported_functions(engine, &component);
    assert_eq!(exports.mcp, Some(expected));
    let names: Vec<&str> = exports.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["plain"]);
}

#[test]
fn what_is_handed_to_wasmtime_holds_declarations_only() {
    // Component section ids: core module 1, core instance 2, component 4,
    // instance 5, canon 8, start 9, export 11 — none may be there.
    const DECLARATIONS: [u8; 4] = [3, 6, 7, 10];
    for path in repository_components() {
        let wasm = std::fs::read(&path).expect("read");
        let features = runtime().1.plain.engine.get_wasm_features();
        let layout = top_level(features, &wasm).expect("parse");
        let declarations = layout.declarations.expect("imports come first");
        let mut ids = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&declarations) {
            let payload = payload.expect("the declarations parse");
            if let Some((id, _)) = payload.as_section() {
                ids.push(id);
            }
        }
        // Every import, type imports too (componentize-js imports types
        // only when all its WASI features are off; `inspect` leaves those
        // out of the imports it lists).
        assert_eq!(
            ids.contains(&10),
            !layout.imports.is_empty(),
            "{}: {ids:?}",
            path.display()
        );
        assert!(
            ids.iter().all(|id| DECLARATIONS.contains(id)),
            "{}: {ids:?}",
            path.display()
        );
    }
}

#[test]
fn a_component_that_does_not_link_gets_the_same_reason_either_way() {
    let wasm = wat::parse_str(
        r#"(component
            (import "ns:missing/thing@1.0.0" (instance $t (export "go" (func))))
            (alias export $t "go" (func $go))
            (core func $lowered (canon lower (func $go)))
            (core module $m (func (export "run") (result i32) i32.const 1))
            (core instance $i (instantiate $m))
            (func (export "run") (result u32) (canon lift (core func $i "run"))))"#,
    )
    .expect("WAT");
    let (_cache, runtime) = runtime();
    let inspected = runtime.inspect(&wasm).expect("a valid component");
    let Err(RuntimeError::Link { source: reason }) =
        runtime.compile("unlinkable", crate::Metering::Off, &wasm)
    else {
        panic!("the compiled path must refuse to link it");
    };
    assert_eq!(inspected.link_error, Some(reason.to_string()));
    assert_eq!(
        inspected.imports,
        vec!["ns:missing/thing@1.0.0".to_string()]
    );
    assert_eq!(inspected.functions.len(), 1);
}

#[test]
fn an_invalid_component_is_refused_without_compiling() {
    let (_cache, runtime) = runtime();
    let err = runtime
        .inspect(b"\0asm\x0d\0\x01\0garbage")
        .expect_err("not valid");
    assert!(matches!(err, RuntimeError::Compile { .. }), "{err}");
    let err = runtime
        .inspect(&wat::parse_str("(module)").expect("WAT"))
        .expect_err("a core module");
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );
}

/// A part of a generated type: a primitive, an earlier definition, or a
/// resource handle.
#[derive(Debug, Clone, Copy)]
enum Part {
    Prim(usize),
    Def(usize),
    /// The latest definition: chains of these share sub-types the most.
    Latest,
    Own,
    Borrow,
}

/// One generated type definition; its parts may only name earlier ones, so
/// the definitions form a graph in which later types share earlier ones.
#[derive(Debug, Clone)]
enum Def {
    List(Part),
    Option(Part),
    Result(Option<Part>, Option<Part>),
    Tuple(Vec<Part>),
    Record(Vec<Part>),
    Variant(Vec<Option<Part>>),
    Enum(usize),
    Flags(usize),
}

const PRIMS: [&str; 13] = [
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
];

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        3 => (0..PRIMS.len()).prop_map(Part::Prim),
        4 => any::<usize>().prop_map(Part::Def),
        3 => Just(Part::Latest),
        1 => Just(Part::Own),
        1 => Just(Part::Borrow),
    ]
}

fn def() -> impl Strategy<Value = Def> {
    use proptest::collection::vec;
    prop_oneof![
        part().prop_map(Def::List),
        part().prop_map(Def::Option),
        (proptest::option::of(part()), proptest::option::of(part()))
            .prop_map(|(ok, err)| Def::Result(ok, err)),
        vec(part(), 1..4).prop_map(Def::Tuple),
        vec(part(), 1..6).prop_map(Def::Record),
        vec(proptest::option::of(part()), 1..5).prop_map(Def::Variant),
        (1usize..5).prop_map(Def::Enum),
        (1usize..5).prop_map(Def::Flags),
    ]
}

/// A component exporting, at world level and in an interface, a function
/// of the generated types. `name_len` sets the length of field and case
/// names: long names on wide records push the schemas over the caps.
///
/// The function is lifted from a core function whose signature does not
/// depend on the types: a first parameter of 17 `u8`s makes the parameters
/// travel through memory (one `i32`), and a result is wrapped in a tuple
/// with a `u8`, which makes it come back through memory too (an `i32`).
fn component_wat(defs: &[Def], params: &[Part], result: Option<Part>, name_len: usize) -> String {
    let name = |i: usize| format!("n{i}-{}", "x".repeat(name_len));
    let mut wat = String::from(
        r#"(component
(import "res" (type $res (sub resource)))
(core module $m
  (memory (export "memory") 1)
  (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8)
  (func (export "run") (param i32) (result i32) i32.const 8)
  (func (export "run-void") (param i32)))
(core instance $i (instantiate $m))
(alias core export $i "memory" (core memory $mem))
(alias core export $i "realloc" (core func $realloc))
"#,
    );
    let reference = |part: Part, defined: usize, in_result: bool| -> String {
        match part {
            Part::Prim(p) => PRIMS[p].to_string(),
            Part::Def(_) | Part::Latest if defined == 0 => "u8".to_string(),
            Part::Def(d) => format!("$t{}", d % defined),
            Part::Latest => format!("$t{}", defined - 1),
            Part::Own => "(own $res)".to_string(),
            // A borrow may only be a parameter, not part of a result.
            Part::Borrow if in_result => "(own $res)".to_string(),
            Part::Borrow => "(borrow $res)".to_string(),
        }
    };
    for (i, def) in defs.iter().enumerate() {
        // Results may not hold borrows, and any definition may end up in
        // the result, so definitions use owned handles only.
        let r = |p: Part| reference(p, i, true);
        let body = match def {
            Def::List(p) => format!("(list {})", r(*p)),
            Def::Option(p) => format!("(option {})", r(*p)),
            Def::Result(ok, err) => format!(
                "(result{}{})",
                ok.map(|p| format!(" {}", r(p))).unwrap_or_default(),
                err.map(|p| format!(" (error {})", r(p)))
                    .unwrap_or_default()
            ),
            Def::Tuple(ps) => format!(
                "(tuple {})",
                ps.iter().map(|p| r(*p)).collect::<Vec<_>>().join(" ")
            ),
            Def::Record(ps) => format!(
                "(record {})",
                ps.iter()
                    .enumerate()
                    .map(|(j, p)| format!("(field \"{}\" {})", name(j), r(*p)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Def::Variant(ps) => format!(
                "(variant {})",
                ps.iter()
                    .enumerate()
                    .map(|(j, p)| match p {
                        Some(p) => format!("(case \"{}\" {})", name(j), r(*p)),
                        None => format!("(case \"{}\")", name(j)),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Def::Enum(n) => format!(
                "(enum {})",
                (0..*n)
                    .map(|j| format!("\"{}\"", name(j)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Def::Flags(n) => format!(
                "(flags {})",
                (0..*n)
                    .map(|j| format!("\"{}\"", name(j)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        // Every definition is imported by name, as WIT tooling does, so
        // the exported function may use it.
        wat.push_str(&format!(
            "(type $t{i}' {body})\n(import \"t{i}\" (type $t{i} (eq $t{i}')))\n"
        ));
    }
    let defined = defs.len();
    let mut signature = format!(" (param \"pad\" (tuple{}))", " u8".repeat(17));
    for (i, p) in params.iter().enumerate() {
        signature.push_str(&format!(
            " (param \"p{i}\" {})",
            reference(*p, defined, false)
        ));
    }
    let core = match result {
        Some(p) => {
            signature.push_str(&format!(
                " (result (tuple {} u8))",
                reference(p, defined, true)
            ));
            "run"
        }
        None => "run-void",
    };
    wat.push_str(&format!(
        "(func $g{signature} (canon lift (core func $i \"{core}\") (memory $mem) (realloc $realloc)))\n\
         (export \"g\" (func $g))\n\
         (instance $api (export \"h\" (func $g)))\n\
         (export \"ns:pkg/api@1.0.0\" (instance $api)))"
    ));
    wat
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn both_readers_agree_on_generated_components(
        defs in prop_oneof![
            1 => proptest::collection::vec(def(), 0..10),
            // A tower of records, each using the one below in every field:
            // with long names, over the caps.
            1 => (3usize..9, 2usize..5)
                .prop_map(|(levels, width)| vec![Def::Record(vec![Part::Latest; width]); levels]),
        ],
        params in proptest::collection::vec(part(), 0..4),
        result in proptest::option::of(part()),
        long_names in any::<bool>(),
    ) {
        let wat = component_wat(&defs, &params, result, if long_names { 300 } else { 1 });
        let wasm = wat::parse_str(&wat).map_err(|e| TestCaseError::fail(format!("{e}\n{wat}")))?;
        let (_cache, runtime) = runtime();
        let from_types = uncompiled(&runtime.plain.engine, &runtime.plain.linker, &wasm)
            .map(|u| u.functions);
        let from_compiled = compiled(&runtime, &wasm);
        match (from_types, from_compiled) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.len(), 2);
                prop_assert_eq!(a, b, "{}", wat);
            }
            // Both refuse it, which only the validator's own limit on
            // type size may cause here.
            (Err(a), Err(b)) => prop_assert!(
                a.to_string().contains("effective type size exceeds the limit"),
                "types: {}\ncompiled: {}\n{}", a, b, wat
            ),
            (a, b) => prop_assert!(false, "types: {:?}\ncompiled: {:?}\n{}", a.err(), b.err(), wat),
        }
    }
}

/// A component exporting `answer` (the author's), componentize-py's
/// `exports.init` hook, and a world-level `init: func()`; with
/// `init_first_param` naming `exports.init`'s first parameter.
fn toolchain_component(init_first_param: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m
                (memory (export "memory") 1)
                (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 8))
                (func (export "init") (param i32 i32 i32))
                (func (export "answer") (result i32) (i32.const 42))
                (func (export "nop")))
            (core instance $i (instantiate $m))
            (alias core export $i "memory" (core memory $mem))
            (alias core export $i "realloc" (core func $realloc))
            (func $init (param "{init_first_param}" string) (param "stub-wasi" bool)
                (canon lift (core func $i "init") (memory $mem) (realloc $realloc)))
            (instance $exports (export "init" (func $init)))
            (export "exports" (instance $exports))
            (func $answer (result u32) (canon lift (core func $i "answer")))
            (export "answer" (func $answer))
            (func $nop (canon lift (core func $i "nop")))
            (export "init" (func $nop)))"#
    ))
    .expect("valid WAT")
}

#[test]
fn toolchain_exports_are_set_apart_with_the_reason_by_both_readers() {
    let (_cache, runtime) = runtime();
    let wasm = toolchain_component("app-name");
    let inspected = runtime.inspect(&wasm).expect("inspect");
    let names: Vec<&str> = inspected
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["answer"]);
    let internal: Vec<(Option<&str>, &str)> = inspected
        .toolchain_exports
        .iter()
        .map(|e| (e.interface.as_deref(), e.name.as_str()))
        .collect();
    assert_eq!(internal, [(Some("exports"), "init"), (None, "init")]);
    assert!(
        inspected.toolchain_exports[0]
            .reason
            .contains("componentize-py")
    );

    let engine = &runtime.plain.engine;
    let component = Component::new(engine, &wasm).expect("compiles");
    let exports = exported_functions(engine, &component);
    let compiled_internal = exports.internal;
    assert_eq!(
        exports
            .functions
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["answer"]
    );
    assert_eq!(compiled_internal, inspected.toolchain_exports);
}

#[test]
fn an_authors_init_with_other_parameters_stays_a_tool() {
    let (_cache, runtime) = runtime();
    let inspected = runtime
        .inspect(&toolchain_component("name"))
        .expect("inspect");
    let tools: Vec<(Option<&str>, &str)> = inspected
        .functions
        .iter()
        .map(|f| (f.interface.as_deref(), f.name.as_str()))
        .collect();
    assert_eq!(tools, [(Some("exports"), "init"), (None, "answer")]);
}
