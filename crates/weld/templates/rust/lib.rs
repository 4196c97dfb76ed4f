//! The {{name}} tool. `generate!` reads wit/{{name}}.wit and writes the
//! `Guest` trait: one method per exported function, kebab-case names in
//! snake_case. A WIT `result<T, E>` is a Rust `Result<T, E>`; its `Err` is
//! the tool error the model sees.

wit_bindgen::generate!({ world: "{{name}}", path: "wit" });

struct Tool;

impl Guest for Tool {
    fn greet(name: String) -> Result<String, String> {
        if name.trim().is_empty() {
            return Err("name is empty: say who to greet".to_string());
        }
        Ok(format!("Hello, {name}!"))
    }
}

export!(Tool);
