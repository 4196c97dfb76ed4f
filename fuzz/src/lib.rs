//! What the schema targets share: a JSON Schema judge independent of weld.

/// Whether `instance` is valid against `schema` (draft 2020-12), by the
/// `jsonschema` crate. Panics if `schema` is not a valid 2020-12 schema:
/// weld must never advertise one.
pub fn validates(schema: &serde_json::Value, instance: &serde_json::Value) -> bool {
    assert!(
        jsonschema::draft202012::meta::is_valid(schema),
        "not a valid 2020-12 schema: {schema}"
    );
    match jsonschema::draft202012::new(schema) {
        Ok(validator) => validator.is_valid(instance),
        Err(e) => panic!("schema does not compile: {e}\n{schema}"),
    }
}
