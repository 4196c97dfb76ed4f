//! What a component offers and asks for, read from its type alone.
//!
//! Every exported function — at world level or inside an exported interface —
//! is a candidate tool. Its index is resolved here, at load time, so the call
//! path never looks an export up by name.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex};
use weld_schema::Signature;

/// One exported function of a component.
#[derive(Debug, Clone)]
pub struct ExportedFunction {
    /// The exporting interface's full name (`ns:pkg/iface@1.0.0`, or a plain
    /// kebab name for an inline interface), or `None` at world level.
    pub interface: Option<String>,
    /// The function's own name.
    pub name: String,
    /// Parameter and result types, or why the function cannot be a tool
    /// (it takes or returns a resource, future or stream).
    pub signature: Result<Signature, String>,
    pub(crate) index: ComponentExportIndex,
}

impl ExportedFunction {
    /// The short name of the exporting interface: `iface` for
    /// `ns:pkg/iface@1.0.0`.
    pub fn interface_short_name(&self) -> Option<&str> {
        self.interface.as_deref().map(short_interface_name)
    }
}

/// The short form of an interface name: the part after the package path,
/// without a version.
pub fn short_interface_name(full: &str) -> &str {
    let without_version = full.split('@').next().unwrap_or(full);
    without_version
        .rsplit('/')
        .next()
        .unwrap_or(without_version)
}

/// Exports that toolchains add for their own use and that are never tools.
///
/// Names with `#` are not valid WIT identifiers, so only toolchains make
/// them (componentize-py's `componentize-py#CallIndirect`, `exports#init`).
/// componentize-qjs exports a world-level `init: func()`; a parameterless,
/// resultless `init` cannot do anything useful as a tool, so it is skipped.
fn is_toolchain_internal(interface: Option<&str>, name: &str, item: &ComponentItem) -> bool {
    if name.contains('#') || interface.is_some_and(|i| i.contains('#')) {
        return true;
    }
    if interface.is_none()
        && name == "init"
        && let ComponentItem::ComponentFunc(f) = item
    {
        return f.params().len() == 0 && f.results().len() == 0;
    }
    false
}

/// Lists the component's exported functions in declaration order.
pub(crate) fn exported_functions(engine: &Engine, component: &Component) -> Vec<ExportedFunction> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (export_name, export) in ty.exports(engine) {
        let item = export.ty;
        match &item {
            ComponentItem::ComponentFunc(func) => {
                if is_toolchain_internal(None, export_name, &item) {
                    continue;
                }
                let Some(index) = component.get_export_index(None, export_name) else {
                    continue;
                };
                out.push(ExportedFunction {
                    interface: None,
                    name: export_name.to_string(),
                    signature: Signature::from_wasmtime(func).map_err(|e| e.to_string()),
                    index,
                });
            }
            ComponentItem::ComponentInstance(instance) => {
                if export_name.contains('#') {
                    continue;
                }
                let Some(instance_index) = component.get_export_index(None, export_name) else {
                    continue;
                };
                for (func_name, inner) in instance.exports(engine) {
                    let inner = inner.ty;
                    let ComponentItem::ComponentFunc(func) = &inner else {
                        continue;
                    };
                    if is_toolchain_internal(Some(export_name), func_name, &inner) {
                        continue;
                    }
                    let Some(index) = component.get_export_index(Some(&instance_index), func_name)
                    else {
                        continue;
                    };
                    out.push(ExportedFunction {
                        interface: Some(export_name.to_string()),
                        name: func_name.to_string(),
                        signature: Signature::from_wasmtime(func).map_err(|e| e.to_string()),
                        index,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The names of everything the component imports (`wasi:cli/environment@0.2.6`, …).
pub(crate) fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::short_interface_name;

    #[test]
    fn short_interface_name_drops_package_and_version() {
        assert_eq!(short_interface_name("ns:pkg/text@0.1.0"), "text");
        assert_eq!(short_interface_name("ns:pkg/text"), "text");
        assert_eq!(short_interface_name("inline"), "inline");
    }
}
