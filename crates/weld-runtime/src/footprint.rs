//! What one call of a component takes from the instance pool, read from
//! the component's structure without compiling it, and whether the pool
//! can hold it at all.
//!
//! A call instantiates the component once; that instantiates, transitively
//! through every nested component it instantiates, a number of core
//! modules, and each core module instance allocates the linear memories and
//! tables its module defines (imported ones are another instance's). Tools
//! built by componentize-py or componentize-js are a dozen or more core
//! instances (the interpreter, libc, the WASI adapter, shims), a Rust tool
//! two or three. The count here follows the component's index spaces: core
//! modules and components defined, imported or aliased, and every
//! `instantiate` of one.
//!
//! The compiled path ([`Footprint::of`]) counts memories and tables exactly
//! as Wasmtime does; this one is for [`crate::Runtime::inspect`], which
//! compiles nothing, so that `weld inspect` says a component cannot run
//! when the pool would refuse it (too many core instances, memories or
//! tables for one component, or a core module beyond the pool's per-module
//! limits) rather than only when it fails to link. Wasmtime adds a few
//! core instances of its own for adapters between core instances, so the
//! core instance count is a lower bound; memories and tables are exact.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentOuterAliasKind, ComponentTypeRef, Instance,
    Parser, Payload,
};

use crate::capacity::{
    Footprint, MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_MEMORIES_PER_MODULE, MAX_TABLES,
    MAX_TABLES_PER_MODULE, POOL_TABLE_ELEMENTS,
};

/// One component's index spaces, as far as the footprint needs them, and
/// what its own instantiations take. `None` is a module or component whose
/// content is not known here (imported, or taken from an instance).
#[derive(Default)]
struct Scope {
    modules: Vec<Option<Footprint>>,
    components: Vec<Option<Footprint>>,
    total: Option<Footprint>,
}

impl Scope {
    fn new() -> Self {
        Self {
            total: Some(Footprint::ZERO),
            ..Self::default()
        }
    }

    fn add(&mut self, part: Option<Footprint>) {
        self.total = match (self.total, part) {
            (Some(total), Some(part)) => Some(total.plus(part)),
            _ => None,
        };
    }
}

/// A core module being read: the memories and tables it defines.
struct ModuleCounts {
    memories: u32,
    tables: u32,
}

enum Frame {
    Component(Scope),
    Module(ModuleCounts),
}

/// The footprint of one instantiation of `wasm`, a valid component (the
/// caller validated it). A component that instantiates a module or
/// component it imports cannot be counted (nor linked by weld): it is taken
/// to need the per-component maxima, as [`Footprint::of`] does.
///
/// # Errors
///
/// Why the instance pool cannot hold one call of it, naming the limit.
pub(crate) fn of_bytes(wasm: &[u8]) -> Result<Footprint, String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        match payload {
            Payload::Version { .. } if stack.is_empty() => {
                stack.push(Frame::Component(Scope::new()));
            }
            Payload::ModuleSection { .. } => stack.push(Frame::Module(ModuleCounts {
                memories: 0,
                tables: 0,
            })),
            Payload::ComponentSection { .. } => stack.push(Frame::Component(Scope::new())),
            Payload::MemorySection(reader) => {
                if let Some(Frame::Module(m)) = stack.last_mut() {
                    m.memories += reader.count();
                    if m.memories > MAX_MEMORIES_PER_MODULE {
                        return Err(format!(
                            "a core module defines {} linear memories; weld's instance pool \
                             holds {MAX_MEMORIES_PER_MODULE} per core module",
                            m.memories
                        ));
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(|e| e.to_string())?;
                    if table.ty.initial > POOL_TABLE_ELEMENTS {
                        return Err(format!(
                            "a core module's table starts with {} elements; weld's instance \
                             pool holds {POOL_TABLE_ELEMENTS} per table",
                            table.ty.initial
                        ));
                    }
                    if let Some(Frame::Module(m)) = stack.last_mut() {
                        m.tables += 1;
                        if m.tables > MAX_TABLES_PER_MODULE {
                            return Err(format!(
                                "a core module defines {} tables; weld's instance pool holds \
                                 {MAX_TABLES_PER_MODULE} per core module",
                                m.tables
                            ));
                        }
                    }
                }
            }
            Payload::InstanceSection(reader) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for instance in reader {
                    if let Instance::Instantiate { module_index, .. } =
                        instance.map_err(|e| e.to_string())?
                    {
                        let module = scope.modules.get(module_index as usize).copied().flatten();
                        scope.add(module.map(|m| m.plus(Footprint::ONE_INSTANCE)));
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for instance in reader {
                    if let wasmparser::ComponentInstance::Instantiate {
                        component_index, ..
                    } = instance.map_err(|e| e.to_string())?
                    {
                        let nested = scope
                            .components
                            .get(component_index as usize)
                            .copied()
                            .flatten();
                        scope.add(nested);
                    }
                }
            }
            Payload::ComponentImportSection(reader) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for import in reader {
                    match import.map_err(|e| e.to_string())?.ty {
                        ComponentTypeRef::Module(_) => scope.modules.push(None),
                        ComponentTypeRef::Component(_) => scope.components.push(None),
                        _ => {}
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    alias_into(&mut stack, alias.map_err(|e| e.to_string())?);
                }
            }
            Payload::ComponentExportSection(reader) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                // An export of a module or component is a new index of it.
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    let index = export.index as usize;
                    match export.kind {
                        ComponentExternalKind::Module => {
                            let it = scope.modules.get(index).copied().flatten();
                            scope.modules.push(it);
                        }
                        ComponentExternalKind::Component => {
                            let it = scope.components.get(index).copied().flatten();
                            scope.components.push(it);
                        }
                        _ => {}
                    }
                }
            }
            Payload::End(_) => match stack.pop() {
                Some(Frame::Module(m)) => {
                    if let Some(Frame::Component(parent)) = stack.last_mut() {
                        parent.modules.push(Some(Footprint {
                            core_instances: 0,
                            memories: m.memories,
                            tables: m.tables,
                        }));
                    }
                }
                Some(Frame::Component(scope)) => match stack.last_mut() {
                    Some(Frame::Component(parent)) => parent.components.push(scope.total),
                    _ => root = Some(scope.total),
                },
                None => {}
            },
            _ => {}
        }
    }
    let footprint = root.flatten().unwrap_or(Footprint::MAXIMA);
    check(footprint)?;
    Ok(footprint)
}

/// Adds what an alias names to the index space it extends.
fn alias_into(stack: &mut [Frame], alias: ComponentAlias<'_>) {
    let depth = stack.len();
    let found = match alias {
        ComponentAlias::Outer { kind, count, index } => {
            let outer = depth
                .checked_sub(1 + count as usize)
                .and_then(|at| match &stack[at] {
                    Frame::Component(scope) => Some(scope),
                    Frame::Module(_) => None,
                });
            match kind {
                ComponentOuterAliasKind::CoreModule => Some((
                    true,
                    outer.and_then(|s| s.modules.get(index as usize).copied().flatten()),
                )),
                ComponentOuterAliasKind::Component => Some((
                    false,
                    outer.and_then(|s| s.components.get(index as usize).copied().flatten()),
                )),
                _ => None,
            }
        }
        ComponentAlias::InstanceExport { kind, .. } => match kind {
            ComponentExternalKind::Module => Some((true, None)),
            ComponentExternalKind::Component => Some((false, None)),
            _ => None,
        },
        ComponentAlias::CoreInstanceExport { .. } => None,
    };
    if let (Some((is_module, it)), Some(Frame::Component(scope))) = (found, stack.last_mut()) {
        if is_module {
            scope.modules.push(it);
        } else {
            scope.components.push(it);
        }
    }
}

/// Whether one instantiation of `footprint` fits the per-component maxima
/// every pool holds (see `capacity`).
fn check(footprint: Footprint) -> Result<(), String> {
    let over = |what: &str, count: u32, max: u32| {
        Err(format!(
            "one call needs {count} {what}; weld's instance pool holds at most {max} per component"
        ))
    };
    if footprint.core_instances > MAX_CORE_INSTANCES {
        return over(
            "core instances",
            footprint.core_instances,
            MAX_CORE_INSTANCES,
        );
    }
    if footprint.memories > MAX_MEMORIES {
        return over("linear memories", footprint.memories, MAX_MEMORIES);
    }
    if footprint.tables > MAX_TABLES {
        return over("tables", footprint.tables, MAX_TABLES);
    }
    Ok(())
}

#[cfg(test)]
#[path = "footprint_tests.rs"]
mod tests;
