//! What a component offers and asks for, read from its type alone.
//!
//! Every exported function — at world level or inside an exported interface —
//! is a candidate tool. Its index is resolved here, at load time, so the call
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Exports that toolchains add for their own use and that are never tools.
///
/// Names with `#` are not valid WIT identifiers, so only toolchains make
/// them (componentize-py's `componentize-py#CallIndirect`, `exports#init`).
/// componentize-qjs exports a world-level `init: func()`; a parameterless,
/// resultless `init` cannot do anything useful as a tool, so it is skipped.
/// `nullary` says whether the function takes and returns nothing.
fn is_toolchain_internal(interface: Option<&str>, name: &str, nullary: bool) -> bool {
    if name.contains('#') || interface.is_some_and(|i| i.contains('#')) {
        return true;
    }
    interface.is_none() && name == "init" && nullary
}

/// Lists the component's exported functions in declaration order.
pub(crate) fn exported_functions(engine: &Engine, component: &Component) -> Vec<ExportedFunction> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (export_name, export) in ty.exports(engine) {
        match &export.ty {
            ComponentItem::ComponentFunc(func) => {
                let nullary = func.params().len() == 0 && func.results().len() == 0;
                if is_toolchain_internal(None, export_name, nullary) {
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
                if export_name.contains('#') {
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
                    if is_toolchain_internal(Some(export_name), func_name, nullary) {
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

/// What an uncompiled component offers and asks for.
pub(crate) struct Uncompiled {
    pub(crate) functions: Vec<ExportedFunctionType>,
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
    for export in &layout.exports {
        let Some(item) = types.component_item_for_export(export) else {
            continue;
        };
        match item.ty {
            ComponentEntityType::Func(id) => {
                if let Some(f) = describe_func(types, None, export, &types[id]) {
                    functions.push(f);
                }
            }
            ComponentEntityType::Instance(id) => {
                if export.contains('#') {
                    continue;
                }
                for (func_name, inner) in &types[id].exports {
                    let ComponentEntityType::Func(fid) = inner.ty else {
                        continue;
                    };
                    if let Some(f) = describe_func(types, Some(export), func_name, &types[fid]) {
                        functions.push(f);
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
        imports,
        link_error,
    })
}

fn describe_func(
    types: TypesRef<'_>,
    interface: Option<&str>,
    name: &str,
    func: &ComponentFuncType,
) -> Option<ExportedFunctionType> {
    let nullary = func.params.is_empty() && func.result.is_none();
    if is_toolchain_internal(interface, name, nullary) {
        return None;
    }
    let at = |ty: ComponentValType| Validated { types, ty };
    let signature = Signature::from_source(
        func.params.iter().map(|(n, t)| (n.as_str(), at(*t))),
        func.result.map(at).into_iter(),
    );
    Some(ExportedFunctionType {
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
