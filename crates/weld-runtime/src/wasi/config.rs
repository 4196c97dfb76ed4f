//! `wasi:config/store@0.2.0-draft`: configuration values for a guest, which
//! are exactly the environment variables its policy grants.
//!
//! The interface (two functions, `get` and `get-all`, and an `error`
//! variant with `upstream` and `io` cases) is the draft that jco,
//! componentize-js and Wasmtime's own `wasmtime-wasi-config` implement, and
//! that JavaScript components import to read their settings. weld adds no
//! configuration source and no policy syntax of its own for it: the store
//! holds the same keys with the same values as the guest's environment
//! (`wasi:cli/environment`), that is, the variables the component's policy
//! grants under `permissions.environment`, with their values taken from
//! weld's own environment or from the component's secret store when it is
//! loaded. A key the policy does not grant is absent (`get` answers
//! `none`, `get-all` leaves it out), so the store shows a guest nothing its
//! environment does not; a guest without a policy sees an empty store.
//!
//! The values are resolved once, when the component is loaded (they are
//! the sandbox's environment, shared by every call): a call only looks a
//! key up. The store never fails, so the `error` cases are never returned.

use std::sync::Arc;

use wasmtime::component::{ComponentType, Lift, Linker, Lower};

/// The versioned name guests import the interface under.
pub(crate) const STORE: &str = "wasi:config/store@0.2.0-draft";

/// What a call's store data offers the config store: the granted
/// variables, keys and values.
pub(crate) trait ConfigView {
    /// The granted variables, in the order the policy grants them.
    fn config(&self) -> &Arc<[(String, String)]>;
}

/// The interface's `error` variant. weld's store reads no upstream source
/// and does no I/O, so neither case is ever returned; the type is needed
/// for the functions' signatures to match what guests import.
#[derive(ComponentType, Lift, Lower, Debug, Clone)]
#[component(variant)]
enum ConfigError {
    /// An error of an upstream configuration source.
    #[component(name = "upstream")]
    Upstream(String),
    /// An I/O error.
    #[component(name = "io")]
    Io(String),
}

/// The value of `key`, if granted.
fn get(config: &[(String, String)], key: &str) -> Option<String> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.clone())
}

/// Adds `wasi:config/store@0.2.0-draft` to `linker`.
///
/// # Errors
///
/// When Wasmtime refuses a definition (the interface is defined twice).
pub(crate) fn add_to_linker<T: ConfigView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    let mut store = linker.instance(STORE)?;
    store.func_wrap("get", |cx, (key,): (String,)| {
        let value = get(cx.data().config(), &key);
        Ok((Ok::<_, ConfigError>(value),))
    })?;
    store.func_wrap("get-all", |cx, (): ()| {
        let all: Vec<(String, String)> = cx.data().config().to_vec();
        Ok((Ok::<_, ConfigError>(all),))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_granted_key_has_a_value() {
        let config = [("API_URL".to_string(), "https://x".to_string())];
        assert_eq!(get(&config, "API_URL").as_deref(), Some("https://x"));
        assert_eq!(get(&config, "api_url"), None);
        assert_eq!(get(&config, "HOME"), None);
    }
}
