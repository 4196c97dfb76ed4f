//! The crate's central promise, checked by property: for random types, the
//! advertised JSON Schema (judged by the independent `jsonschema` crate) and
//! the conversion agree on every JSON document, and values survive the trip
//! through JSON. Case counts are fixed here; raise them with
//! `PROPTEST_CASES` for a longer soak.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value};
use weld_schema::{MAX_SCHEMA_BYTES, Node, SchemaSize, Signature, Ty, TypeSource};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// Asserts schema and conversion give the same verdict on `json`.
fn assert_agree(ty: &Ty, v: &jsonschema::Validator, json: &Value) -> Result<(), TestCaseError> {
    let converted = ty.to_val(json);
    let valid = v.is_valid(json);
    prop_assert_eq!(
        converted.is_ok(),
        valid,
        "type {} / schema {} / json {} / conversion says {:?}",
        ty.wit(),
        ty.json_schema(),
        json,
        converted.as_ref().err().map(ToString::to_string)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn every_generated_schema_is_a_valid_2020_12_schema(ty in arb_ty()) {
        let _ = validator(&ty.json_schema());
    }

    #[test]
    fn the_predicted_schema_size_is_the_built_schema_size(ty in arb_ty()) {
        let built = ty.json_schema();
        let predicted = ty.schema_size();
        prop_assert_eq!(predicted, SchemaSize::of(&built), "type {}", ty.wit());
        prop_assert_eq!(predicted.bytes, built.to_string().len() as u64);
    }

    #[test]
    fn a_cut_rendering_is_a_prefix_of_the_whole_within_the_limit(
        ty in arb_ty(),
        max in 0usize..200,
    ) {
        let whole = ty.wit();
        let cut = ty.wit_within(max);
        if whole.len() <= max {
            prop_assert_eq!(cut, whole);
        } else {
            let kept = cut.strip_suffix('…').expect("a cut rendering ends in …");
            prop_assert!(kept.len() <= max);
            prop_assert!(whole.starts_with(kept));
        }
    }

    #[test]
    fn rendered_values_validate_against_their_schema((ty, val) in ty_and_val()) {
        let json = ty.from_val(&val);
        let v = validator(&ty.json_schema());
        prop_assert!(
            v.is_valid(&json),
            "type {} / value {:?} / json {} / errors {:?}",
            ty.wit(), val, json,
            v.iter_errors(&json).map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn values_round_trip_through_json((ty, val) in ty_and_val()) {
        let json = ty.from_val(&val);
        prop_assert!(ty.try_from_val(&val).is_ok());
        // Through text too, as a client would see it.
        let reparsed: Value = serde_json::from_str(&json.to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for j in [&json, &reparsed] {
            match ty.to_val(j) {
                Ok(back) => prop_assert!(
                    val_eq(&val, &back),
                    "type {} / json {} / before {:?} / after {:?}", ty.wit(), j, val, back
                ),
                Err(e) => prop_assert!(false, "type {} / json {} rejected: {}", ty.wit(), j, e),
            }
        }
    }

    #[test]
    fn schema_and_conversion_agree_on_arbitrary_json(
        ty in arb_ty(),
        docs in proptest::collection::vec(arb_json(), 8),
    ) {
        let v = validator(&ty.json_schema());
        for json in &docs {
            assert_agree(&ty, &v, json)?;
        }
    }

    #[test]
    fn schema_and_conversion_agree_on_near_miss_json(
        (ty, vals) in arb_ty().prop_flat_map(|ty| {
            let vals = proptest::collection::vec(arb_val(&ty), 8);
            (Just(ty), vals)
        }),
        edits in proptest::collection::vec(arb_edits(), 8),
    ) {
        let v = validator(&ty.json_schema());
        for (val, edits) in vals.iter().zip(&edits) {
            let json = apply(ty.from_val(val), edits);
            assert_agree(&ty, &v, &json)?;
        }
    }

    #[test]
    fn input_schema_and_args_from_json_agree(
        (sig, vals) in proptest::collection::vec(arb_ty(), 0..4).prop_flat_map(|tys| {
            let params: Vec<(String, Ty)> = NAMES.iter().map(|n| n.to_string()).zip(tys).collect();
            let vals: Vec<_> = params.iter().map(|(_, t)| arb_val(t)).collect();
            (Just(Signature { params, result: None }), vals)
        }),
        edits in arb_edits(),
        use_edits in any::<bool>(),
    ) {
        let mut args = Map::new();
        for ((name, ty), val) in sig.params.iter().zip(&vals) {
            args.insert(name.clone(), ty.from_val(val));
        }
        let doc = Value::Object(args);
        let doc = if use_edits { apply(doc, &edits) } else { doc };
        let schema = Value::Object(sig.input_schema(&|_| None));
        let valid = validator(&schema).is_valid(&doc);
        let converted = match &doc {
            Value::Object(m) => sig.args_from_json(Some(m)).map(|_| ()).map_err(|e| e.to_string()),
            _ => Err("not an object".to_string()),
        };
        prop_assert_eq!(converted.is_ok(), valid, "sig {} / json {} / {:?}", sig.wit("f"), doc, converted);
        if !use_edits {
            let Value::Object(m) = &doc else { unreachable!() };
            let back = sig.args_from_json(Some(m)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.len(), vals.len());
            for (a, b) in vals.iter().zip(&back) {
                prop_assert!(val_eq(a, b));
            }
        }
    }

    #[test]
    fn structured_output_validates_against_output_schema(
        (ty, val) in ty_and_val(),
    ) {
        let sig = Signature { params: vec![], result: Some(ty.clone()) };
        let rendered = sig.render_result(std::slice::from_ref(&val));
        match (sig.output_schema(), rendered.structured) {
            (Some(schema), Some(structured)) => {
                let schema = Value::Object(schema);
                let structured = Value::Object(structured);
                prop_assert!(validator(&schema).is_valid(&structured), "{} vs {}", schema, structured);
                prop_assert!(!rendered.is_error);
            }
            (None, None) => {}
            (Some(_), None) => prop_assert!(rendered.is_error, "ok value without structured output"),
            (None, Some(s)) => prop_assert!(false, "structured output {:?} without a schema", s),
        }
    }
}

/// Every f32 whose shortest decimal is used must read back bit-for-bit;
/// checked on a dense, deterministic sample of the whole bit space.
#[test]
fn f32_output_reads_back_exactly_across_the_bit_space() {
    let mut bits: u32 = 0;
    let mut checked = 0u64;
    loop {
        let x = f32::from_bits(bits);
        let json = Ty::F32.from_val(&wasmtime::component::Val::Float32(x));
        let back = Ty::F32.to_val(&json);
        match back {
            Ok(wasmtime::component::Val::Float32(y)) => assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{x:e} ({bits:#x}) came back as {y:e} via {json}"
            ),
            other => panic!("{x:e} ({bits:#x}) via {json} gave {other:?}"),
        }
        checked += 1;
        match bits.checked_add(65_521) {
            Some(next) => bits = next,
            None => break,
        }
    }
    assert!(checked > 60_000);
}

/// The fuzzing oracles' judge, as the fuzz targets have it.
fn judge(schema: &Value, instance: &Value) -> bool {
    validator(schema).is_valid(instance)
}

fn fuzz_seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("read seed"))
        .collect();
    assert!(seeds.len() >= 3, "{}", dir.display());
    seeds
}

#[test]
fn the_fuzz_seeds_pass_the_oracles() {
    for seed in fuzz_seeds("schema_agreement") {
        weld_schema::fuzz_schema(&seed, &judge);
    }
    for seed in fuzz_seeds("argument_conversion") {
        weld_schema::fuzz_arguments(&seed, &judge);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_schema_oracle_holds_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        weld_schema::fuzz_schema(&data, &judge);
    }

    #[test]
    fn the_argument_oracle_holds_on_arbitrary_arguments(
        head in proptest::collection::vec(any::<u8>(), 0..16),
        args in arb_json(),
    ) {
        let mut data: Vec<u8> = head.into_iter().filter(|&b| b != 0xff).collect();
        data.push(0xff);
        data.extend(args.to_string().into_bytes());
        weld_schema::fuzz_arguments(&data, &judge);
    }
}

/// Found by the `schema_agreement` fuzzer: the lowering charged a map's
/// string key against the budget although a string-keyed map is a JSON
/// object and its key has no schema, so a type within the cap could be
/// refused.
#[test]
fn a_string_map_key_is_not_charged_against_the_budget() {
    /// Records of two fields named with `name` bytes, `levels` deep, over
    /// `map<string, u8>`.
    #[derive(Clone, Copy)]
    enum Tower {
        Level { levels: u32, name: usize },
        String,
        U8,
    }
    impl TypeSource for Tower {
        fn node(&self) -> Node<Self> {
            match *self {
                Tower::Level { levels: 0, .. } => Node::Map(Tower::String, Tower::U8),
                Tower::Level { levels, name } => {
                    let below = Tower::Level {
                        levels: levels - 1,
                        name,
                    };
                    Node::Record(vec![
                        (format!("a{}", "x".repeat(name)), below),
                        (format!("b{}", "x".repeat(name)), below),
                    ])
                }
                Tower::String => Node::String,
                Tower::U8 => Node::U8,
            }
        }
    }
    fn written_out(levels: u32, name: usize) -> Ty {
        let mut ty = Ty::Map(Box::new(Ty::String), Box::new(Ty::U8));
        for _ in 0..levels {
            ty = Ty::Record(vec![
                (format!("a{}", "x".repeat(name)), ty.clone()),
                (format!("b{}", "x".repeat(name)), ty),
            ]);
        }
        ty
    }
    // 1024 maps: charging their keys would add 1024 × 17 bytes. Find names
    // that put the schema within the cap but less than that below it.
    let levels = 10;
    let keys = Ty::String.schema_size().bytes * (1 << levels);
    let name = (0..400)
        .find(|&name| {
            let size = written_out(levels, name).schema_size().bytes;
            size <= MAX_SCHEMA_BYTES && size + keys > MAX_SCHEMA_BYTES
        })
        .expect("some name length puts the schema just under the cap");
    assert_eq!(
        Ty::from_source(&Tower::Level { levels, name }),
        Ok(written_out(levels, name))
    );
}
