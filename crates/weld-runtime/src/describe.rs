//! What a component offers and asks for, read from its type alone.
//!
//! Every exported function — at world level or inside an exported interface —
//! is a candidate tool, except those of an MCP world's interfaces, which
//! are recognised by name first (`crate::mcp::recognise`). Its index is resolved here, at load time, so the call
//! path never looks an export up by name.
//!
//! Two readers give the same answer. A loaded component is described from
//! Wasmtime's compiled types ([`exported_functions`]). A component that is
//! only being looked at — `weld inspect` on an untrusted file, `weld add`
//! before it compiles anything — is described from the validator's type
//! information ([`uncompiled`]): the bytes are validated (as Wasmtime
//! would, with the engine's features) but no function is compiled, so a
//! component whose code would take minutes to compile is described in
//! milliseconds. Both feed [`Signature::from_source`], which lowers types
//! one level at a time, in the same order, with the same caps; a test
//! checks the two agree on every guest component in the repository.
//!
//! Whether an uncompiled component would link is checked by handing
//! Wasmtime a component made of the original's type and import
//! declarations only (its leading type, alias and import sections, copied
//! byte for byte): the same imports meet the same linker, and there is no
//! code to compile.

use crate::error::Cause;
use crate::mcp::McpExportsInfo;
use wasmparser::collections::IndexSet;
use wasmparser::component_types::{
    ComponentAnyTypeId, ComponentDefinedType, ComponentEntityType, ComponentFuncType,
    ComponentValType,
};
use wasmparser::names::KebabString;
use wasmparser::types::TypesRef;
use wasmparser::{Parser, Payload, PrimitiveValType, Validator, WasmFeatures};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Linker};
use weld_schema::{Node, Opaque, Signature, TypeError, TypeSource};

/// One exported function of a loaded component.
#[derive(Debug, Clone)]
pub struct ExportedFunction {
    /// The exporting interface's full name (`ns:pkg/iface@1.0.0`, or a plain
    /// kebab name for an inline interface), or `None` at world level.
    pub interface: Option<String>,
    /// The function's own name.
    pub name: String,
    /// Parameter and result types, or why the function cannot be a tool
    /// (it takes or returns a resource, future or stream, or its schema
    /// would exceed the caps).
    pub signature: Result<Signature, TypeError>,
    pub(crate) index: ComponentExportIndex,
}

impl ExportedFunction {
    /// The short name of the exporting interface: `iface` for
    /// `ns:pkg/iface@1.0.0`.
    pub fn interface_short_name(&self) -> Option<&str> {
        self.interface.as_deref().map(short_interface_name)
    }

    /// What its type says, without the export index.
    pub fn function_type(&self) -> ExportedFunctionType {
        ExportedFunctionType {
            interface: self.interface.clone(),
            name: self.name.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// One exported function as the component's type describes it: what
/// [`crate::Runtime::inspect`] finds without compiling anything.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedFunctionType {
    /// As [`ExportedFunction::interface`].
    pub interface: Option<String>,
    /// As [`ExportedFunction::name`].
    pub name: String,
    /// As [`ExportedFunction::signature`].
    pub signature: Result<Signature, TypeError>,
}

impl ExportedFunctionType {
    /// As [`ExportedFunction::interface_short_name`].
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

/// An export a toolchain adds for its own use: never a tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolchainExport {
    /// As [`ExportedFunction::interface`].
    pub interface: Option<String>,
    /// The function's own name; empty when a whole exported interface is
    /// the toolchain's.
    pub name: String,
    /// Which toolchain adds it and what for.
    pub reason: std::borrow::Cow<'static, str>,
}

/// Why an export is the toolchain's rather than the author's, or `None`
/// for an author's function. Known cases (read in each toolchain's sources
/// and seen in components they build):
///
/// - Names with `#` are not valid WIT identifiers, so only toolchains make
///   them (older componentize-py's `componentize-py#CallIndirect`).
/// - componentize-py exports an inline interface `exports` whose `init`
///   (`app-name`, `symbols`, `stub-wasi`) pre-initialises the interpreter
///   when the component is built; called afterwards it traps.
/// - componentize-qjs exports a world-level `init: func()`: a parameterless,
///   resultless `init` cannot do anything useful as a tool.
///
/// wit-bindgen and cargo-component add only core-level helpers
/// (`cabi_realloc`, `cabi_post_*`, `_initialize`), and componentize-js
/// only the author's exports; none of those is a component-level function,
/// so none can become a tool. `wasi:cli/run` is a command's `main`,
/// written by its author, and is served like any export.
///
/// `nullary` says whether the function takes and returns nothing;
/// `first_param` is its first parameter's name.
fn toolchain_reason(
    interface: Option<&str>,
    name: &str,
    nullary: bool,
    first_param: Option<&str>,
) -> Option<&'static str> {
    if name.contains('#') || interface.is_some_and(|i| i.contains('#')) {
        return Some("a toolchain's internal export (its name is not a WIT identifier)");
    }
    if interface == Some("exports") && name == "init" && first_param == Some("app-name") {
        return Some(
            "componentize-py's build-time initialisation hook (`exports.init`), not the \
             author's function; it traps when called after the build",
        );
    }
    if interface.is_none() && name == "init" && nullary {
        return Some(
            "a toolchain's initialisation hook (componentize-qjs's `init: func()`): it takes \
             and returns nothing, so it cannot be a tool",
        );
    }
    None
}

/// What a loaded component exports: its functions in declaration order,
/// those its toolchain added, and the MCP world it implements, if any.
pub(crate) struct Exports {
    pub(crate) functions: Vec<ExportedFunction>,
    pub(crate) internal: Vec<ToolchainExport>,
    pub(crate) mcp: Option<McpExportsInfo>,
}

/// Lists the component's exported functions in declaration order. The
/// interfaces of an MCP world are not functions to serve: they are
/// recognised by name first (see `crate::mcp`), and none of their
/// functions is listed.
pub(crate) fn exported_functions(engine: &Engine, component: &Component) -> Exports {
    let ty = component.component_type();
    let mut out = Vec::new();
    let mut internal = Vec::new();
    let mut mcp = None;
    let mut skip = |interface: Option<&str>, name: &str, reason: &'static str| {
        internal.push(ToolchainExport {
            interface: interface.map(str::to_string),
            name: name.to_string(),
            reason: reason.into(),
        });
    };
    for (export_name, export) in ty.exports(engine) {
        match &export.ty {
            ComponentItem::ComponentFunc(func) => {
                let nullary = func.params().len() == 0 && func.results().len() == 0;
                let first = func.params().next().map(|(n, _)| n);
                if let Some(reason) = toolchain_reason(None, export_name, nullary, first) {
                    skip(None, export_name, reason);
                    continue;
                }
                let Some(index) = component.get_export_index(None, export_name) else {
                    continue;
                };
                out.push(ExportedFunction {
                    interface: None,
                    name: export_name.to_string(),
                    signature: Signature::from_wasmtime(func),
                    index,
                });
            }
            ComponentItem::ComponentInstance(instance) => {
                if McpExportsInfo::collect(&mut mcp, export_name) {
                    continue;
                }
                if let Some(reason) = toolchain_reason(Some(export_name), "", false, None) {
                    skip(Some(export_name), "", reason);
                    continue;
                }
                let Some(instance_index) = component.get_export_index(None, export_name) else {
                    continue;
                };
                for (func_name, inner) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(func) = &inner.ty else {
                        continue;
                    };
                    let nullary = func.params().len() == 0 && func.results().len() == 0;
                    let first = func.params().next().map(|(n, _)| n);
                    if let Some(reason) =
                        toolchain_reason(Some(export_name), func_name, nullary, first)
                    {
                        skip(Some(export_name), func_name, reason);
                        continue;
                    }
                    let Some(index) = component.get_export_index(Some(&instance_index), func_name)
                    else {
                        continue;
                    };
                    out.push(ExportedFunction {
                        interface: Some(export_name.to_string()),
                        name: func_name.to_string(),
                        signature: Signature::from_wasmtime(func),
                        index,
                    });
                }
            }
            _ => {}
        }
    }
    Exports {
        functions: out,
        internal,
        mcp,
    }
}

/// The names of everything the component imports (`wasi:cli/environment@0.2.6`, …).
pub(crate) fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// What an uncompiled component offers and asks for.
pub(crate) struct Uncompiled {
    pub(crate) functions: Vec<ExportedFunctionType>,
    pub(crate) mcp: Option<McpExportsInfo>,
    pub(crate) internal: Vec<ToolchainExport>,
    pub(crate) imports: Vec<String>,
    /// Why it would not link, if it would not.
    pub(crate) link_error: Option<String>,
}

/// Validates `wasm` with `engine`'s features and describes it from the
/// validator's types; checks its imports against `linker` without
/// compiling its code.
///
/// # Errors
///
/// When the bytes are not a valid component, with the validator's message.
pub(crate) fn uncompiled<T>(
    engine: &Engine,
    linker: &Linker<T>,
    wasm: &[u8],
) -> Result<Uncompiled, Cause> {
    let features = engine.get_wasm_features();
    if !Parser::is_component(wasm) {
        return Err(
            "the bytes are not a WebAssembly component (a core module, or not WebAssembly at all)"
                .into(),
        );
    }
    let mut validator = Validator::new_with_features(features);
    let types = validator.validate_all(wasm)?;
    let types = types.as_ref();
    let layout = top_level(features, wasm)?;

    let mut functions = Vec::new();
    let mut internal = Vec::new();
    let mut mcp = None;
    for export in &layout.exports {
        let Some(item) = types.component_item_for_export(export) else {
            continue;
        };
        match item.ty {
            ComponentEntityType::Func(id) => match describe_func(types, None, export, &types[id]) {
                Ok(f) => functions.push(f),
                Err(skipped) => internal.push(skipped),
            },
            ComponentEntityType::Instance(id) => {
                if McpExportsInfo::collect(&mut mcp, export) {
                    continue;
                }
                if let Some(reason) = toolchain_reason(Some(export), "", false, None) {
                    internal.push(ToolchainExport {
                        interface: Some(export.clone()),
                        name: String::new(),
                        reason: reason.into(),
                    });
                    continue;
                }
                for (func_name, inner) in &types[id].exports {
                    let ComponentEntityType::Func(fid) = inner.ty else {
                        continue;
                    };
                    match describe_func(types, Some(export), func_name, &types[fid]) {
                        Ok(f) => functions.push(f),
                        Err(skipped) => internal.push(skipped),
                    }
                }
            }
            _ => {}
        }
    }
    let link_error = match &layout.declarations {
        Some(declarations) => match Component::new(engine, declarations) {
            Ok(declared) => linker
                .instantiate_pre(&declared)
                .err()
                .map(|e| format!("{e}")),
            Err(e) => Some(format!(
                "not checked: its import declarations alone are not a component Wasmtime accepts \
                 ({e}); `weld add` compiles it and checks"
            )),
        },
        None => Some(
            "not checked without compiling: the component declares imports after its code; \
             `weld add` compiles it and checks"
                .into(),
        ),
    };
    // Imports of plain value types carry type information only; Wasmtime
    // neither lists them nor asks the host for them, and neither does this.
    let imports = layout
        .imports
        .into_iter()
        .filter(|name| {
            !matches!(
                types.component_item_for_import(name).map(|item| item.ty),
                Some(ComponentEntityType::Type {
                    referenced: ComponentAnyTypeId::Defined(_),
                    ..
                })
            )
        })
        .collect();
    Ok(Uncompiled {
        functions,
        mcp,
        internal,
        imports,
        link_error,
    })
}

fn describe_func(
    types: TypesRef<'_>,
    interface: Option<&str>,
    name: &str,
    func: &ComponentFuncType,
) -> Result<ExportedFunctionType, ToolchainExport> {
    let nullary = func.params.is_empty() && func.result.is_none();
    let first = func.params.first().map(|(n, _)| n.as_str());
    if let Some(reason) = toolchain_reason(interface, name, nullary, first) {
        return Err(ToolchainExport {
            interface: interface.map(str::to_string),
            name: name.to_string(),
            reason: reason.into(),
        });
    }
    let at = |ty: ComponentValType| Validated { types, ty };
    let signature = Signature::from_source(
        func.params.iter().map(|(n, t)| (n.as_str(), at(*t))),
        func.result.map(at).into_iter(),
    );
    Ok(ExportedFunctionType {
        interface: interface.map(str::to_string),
        name: name.to_string(),
        signature,
    })
}

/// The top level of a component's binary: import and export names in
/// declaration order, and the declarations-only component (see the module
/// docs), when its imports all come before its code.
struct Layout {
    imports: Vec<String>,
    exports: Vec<String>,
    declarations: Option<Vec<u8>>,
}

fn top_level(features: WasmFeatures, wasm: &[u8]) -> wasmparser::Result<Layout> {
    // Section ids of the component binary format.
    const CORE_TYPE: u8 = 3;
    const ALIAS: u8 = 6;
    const TYPE: u8 = 7;
    const IMPORT: u8 = 10;
    const CUSTOM: u8 = 0;

    let mut layout = Layout {
        imports: Vec::new(),
        exports: Vec::new(),
        declarations: None,
    };
    // The component header: magic, version and layer, as the original.
    let mut declarations = wasm.get(..8).map(<[u8]>::to_vec);
    // Whether everything so far was a declaration.
    let mut leading = true;
    let mut depth = 0usize;
    let mut parser = Parser::new(0);
    parser.set_features(features);
    for payload in parser.parse_all(wasm) {
        let payload = payload?;
        let top = depth == 0;
        match &payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if top => {
                for import in reader.clone() {
                    layout.imports.push(import?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if top => {
                for export in reader.clone() {
                    layout.exports.push(export?.name.name.to_string());
                }
            }
            _ => {}
        }
        if !top {
            continue;
        }
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        match id {
            CUSTOM => {}
            CORE_TYPE | ALIAS | TYPE | IMPORT if leading => {
                if let Some(out) = &mut declarations {
                    out.push(id);
                    write_leb128(out, range.len());
                    out.extend_from_slice(&wasm[range]);
                }
            }
            IMPORT => declarations = None,
            _ => leading = false,
        }
    }
    layout.declarations = declarations;
    Ok(layout)
}

fn write_leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A value type in the validator's type information.
#[derive(Clone, Copy)]
struct Validated<'a> {
    types: TypesRef<'a>,
    ty: ComponentValType,
}

impl TypeSource for Validated<'_> {
    fn node(&self) -> Node<Self> {
        let at = |ty: ComponentValType| Validated {
            types: self.types,
            ty,
        };
        let id = match self.ty {
            ComponentValType::Primitive(p) => return primitive(p),
            ComponentValType::Type(id) => id,
        };
        match &self.types[id] {
            ComponentDefinedType::Primitive(p) => primitive(*p),
            ComponentDefinedType::Record(r) => Node::Record(
                r.fields
                    .iter()
                    .map(|(n, t)| (n.to_string(), at(*t)))
                    .collect(),
            ),
            ComponentDefinedType::Variant(v) => Node::Variant(
                v.cases
                    .iter()
                    .map(|(n, c)| (n.to_string(), c.ty.map(at)))
                    .collect(),
            ),
            ComponentDefinedType::List { element, .. } => Node::List(at(*element)),
            ComponentDefinedType::Map { key, value, .. } => Node::Map(at(*key), at(*value)),
            ComponentDefinedType::FixedLengthList {
                element, length, ..
            } => Node::FixedList(at(*element), *length),
            ComponentDefinedType::Tuple(t) => Node::Tuple(t.types.iter().map(|t| at(*t)).collect()),
            ComponentDefinedType::Flags(set) => Node::Flags(names(set)),
            ComponentDefinedType::Enum(set) => Node::Enum(names(set)),
            ComponentDefinedType::Option { ty, .. } => Node::Option(at(*ty)),
            ComponentDefinedType::Result { ok, err, .. } => Node::Result {
                ok: ok.map(at),
                err: err.map(at),
            },
            ComponentDefinedType::Own(_) => Node::Opaque(Opaque::Own),
            ComponentDefinedType::Borrow(_) => Node::Opaque(Opaque::Borrow),
            ComponentDefinedType::Future { .. } => Node::Opaque(Opaque::Future),
            ComponentDefinedType::Stream { .. } => Node::Opaque(Opaque::Stream),
        }
    }
}

fn names(set: &IndexSet<KebabString>) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

fn primitive<T>(p: PrimitiveValType) -> Node<T> {
    match p {
        PrimitiveValType::Bool => Node::Bool,
        PrimitiveValType::S8 => Node::S8,
        PrimitiveValType::U8 => Node::U8,
        PrimitiveValType::S16 => Node::S16,
        PrimitiveValType::U16 => Node::U16,
        PrimitiveValType::S32 => Node::S32,
        PrimitiveValType::U32 => Node::U32,
        PrimitiveValType::S64 => Node::S64,
        PrimitiveValType::U64 => Node::U64,
        PrimitiveValType::F32 => Node::F32,
        PrimitiveValType::F64 => Node::F64,
        PrimitiveValType::Char => Node::Char,
        PrimitiveValType::String => Node::String,
        PrimitiveValType::ErrorContext => Node::Opaque(Opaque::ErrorContext),
    }
}

#[cfg(test)]
#[path = "describe_tests.rs"]
mod tests;
