//! One component's tools ([`component_tools`]): named, described, measured
//! and checked against the caps, from its exported functions — their
//! definitions read from what was kept beside its description when there
//! is such text (see [`super::prepared`]), derived otherwise.

use weld_schema::{Signature, TypeError};

use super::spec::{self, FunctionTexts};
use super::{MAX_CATALOG_BYTES, MAX_TOOL_NAME, Skipped, ToolSpec, tool_name};

/// Where a component's docs (its `package-docs` section) come from.
#[derive(Debug, Clone)]
pub enum EntryDocs {
    /// Read with its bytes (a `--component` file, a component being
    /// installed).
    Read(weld_store::ComponentDocs),
    /// An installed component's: read from its blob, checked against its
    /// digest, only if a definition must be derived (a start that reads
    /// its kept definitions never reads them).
    InBlob(weld_store::Store, weld_store::Digest),
}

/// No docs: every description is generated from its signature.
impl Default for EntryDocs {
    fn default() -> Self {
        Self::Read(weld_store::ComponentDocs::default())
    }
}

impl EntryDocs {
    fn read(&self) -> Result<std::borrow::Cow<'_, weld_store::ComponentDocs>, String> {
        match self {
            Self::Read(docs) => Ok(std::borrow::Cow::Borrowed(docs)),
            Self::InBlob(store, digest) => {
                let bytes = store.read_blob(digest).map_err(|e| e.to_string())?;
                weld_store::docs::read(&bytes)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// One tool of a component, built and measured.
pub struct BuiltTool {
    /// The position of its function in the list given to [`component_tools`].
    pub function: usize,
    /// What it is offered as.
    pub tool: ToolSpec,
    /// Its parameters and result, for the catalog entry that calls it.
    pub(crate) signature: Signature,
}

/// The tools of one component.
pub struct ComponentTools {
    /// Its tools, in the order of its functions.
    pub tools: Vec<BuiltTool>,
    /// Functions that are not tools, with the reason.
    pub skipped: Vec<Skipped>,
    /// Each function's definition texts, by position (`None` for a function
    /// that is not a tool): what to keep for the next start.
    pub(crate) texts: Vec<Option<FunctionTexts>>,
    /// Whether any text was derived rather than read from what was kept.
    pub(crate) derived: bool,
}

impl Skipped {
    /// A component left out whole is an operator's concern: say so in the
    /// log, whichever path (start, reload) built the catalog.
    pub(crate) fn log(&self) {
        tracing::error!(
            component = %self.component,
            tool = %self.function,
            reason = %self.reason,
            "component not served"
        );
    }
}

/// Builds the tools of component `component` from its exported functions
/// (interface, name and signature, in declaration order) and checks each
/// against the size caps.
///
/// # Errors
///
/// When a function's schema or a tool's description exceeds a cap, or its
/// tools together exceed [`MAX_CATALOG_BYTES`], the component is refused
/// whole: the [`Skipped`] names the tool (empty when it is not about one
/// tool) and the reason, with the size and the cap.
pub fn component_tools<'a>(
    component: &str,
    docs: &weld_store::ComponentDocs,
    functions: impl IntoIterator<Item = (Option<&'a str>, &'a str, &'a Result<Signature, TypeError>)>,
) -> Result<ComponentTools, Skipped> {
    kept_component_tools(component, &EntryDocs::Read(docs.clone()), functions, None)
}

/// [`component_tools`], reading each function's definition texts from
/// `kept` (by position) where there are some.
///
/// # Errors
///
/// As [`component_tools`].
pub(crate) fn kept_component_tools<'a>(
    component: &str,
    docs: &EntryDocs,
    functions: impl IntoIterator<Item = (Option<&'a str>, &'a str, &'a Result<Signature, TypeError>)>,
    kept: Option<&[Option<FunctionTexts>]>,
) -> Result<ComponentTools, Skipped> {
    let mut parsed: Option<std::borrow::Cow<'_, weld_store::ComponentDocs>> = None;
    let mut built = ComponentTools {
        tools: Vec::new(),
        skipped: Vec::new(),
        texts: Vec::new(),
        derived: false,
    };
    let mut names = std::collections::HashSet::new();
    for (position, (interface, function, signature)) in functions.into_iter().enumerate() {
        built.texts.push(None);
        let interface_short = interface.map(weld_runtime::short_interface_name);
        let name = tool_name(component, interface_short, function);
        let skip = |reason: String| Skipped {
            component: component.to_string(),
            function: name.clone(),
            reason,
            toolchain: false,
        };
        let refuse = |reason: String| skip(format!("{reason}; the component is refused whole"));
        if component == weld_store::RESERVED_NAME {
            // Only a component installed before the name was reserved gets
            // here: its tools could shadow the built-in ones, so none is
            // served.
            built.skipped.push(skip(format!(
                "the component name `{}` is reserved for weld's built-in tools; \
                 install it under another name (`weld add PATH --name OTHER`)",
                weld_store::RESERVED_NAME
            )));
            continue;
        }
        let signature = match signature {
            Ok(signature) => signature,
            Err(TypeError::TooLarge(e)) => return Err(refuse(e.to_string())),
            Err(reason) => {
                built.skipped.push(skip(reason.to_string()));
                continue;
            }
        };
        if name.len() > MAX_TOOL_NAME {
            built.skipped.push(skip(format!(
                "the tool name is longer than MCP's {MAX_TOOL_NAME} characters; \
                 install the component under a shorter name"
            )));
            continue;
        }
        if !names.insert(name.clone()) {
            built
                .skipped
                .push(skip("another export already has this tool name".into()));
            continue;
        }
        let kept = kept
            .and_then(|kept| kept.get(position))
            .and_then(Option::as_ref);
        let texts = match kept {
            Some(texts) => texts.clone(),
            None => {
                built.derived = true;
                if parsed.is_none() {
                    parsed = Some(docs.read().map_err(|e| Skipped {
                        component: component.to_string(),
                        function: String::new(),
                        reason: format!(
                            "its docs could not be read from it ({e}); install it again \
                             (`weld add SOURCE --name {component} --force`)"
                        ),
                        toolchain: false,
                    })?);
                }
                let docs = parsed
                    .as_deref()
                    .and_then(|d| d.get(interface_short, function));
                spec::derive(function, signature, docs).map_err(refuse)?
            }
        };
        let tool = spec::assemble(component, interface, function, &texts).map_err(refuse)?;
        built.texts[position] = Some(texts);
        built.tools.push(BuiltTool {
            function: position,
            tool,
            signature: signature.clone(),
        });
    }
    within(component, built, MAX_CATALOG_BYTES)
}

/// `built`, when its tools together take at most `cap` bytes of listing.
fn within(component: &str, built: ComponentTools, cap: u64) -> Result<ComponentTools, Skipped> {
    let total: u64 = built.tools.iter().map(|t| t.tool.listing_bytes()).sum();
    if total > cap {
        return Err(Skipped {
            component: component.to_string(),
            function: String::new(),
            reason: format!(
                "its tools take {total} bytes of JSON in the tool listing, over the cap of \
                 {cap} bytes for all tools; the component is refused whole"
            ),
            toolchain: false,
        });
    }
    Ok(built)
}

/// [`component_tools`] for a component described without compiling it
/// ([`weld_runtime::Runtime::inspect`]).
///
/// # Errors
///
/// As [`component_tools`].
pub fn inspected_tools(
    component: &str,
    docs: &weld_store::ComponentDocs,
    inspection: &weld_runtime::Inspection,
) -> Result<ComponentTools, Skipped> {
    let exports = inspection.functions.iter();
    if weld_runtime::is_command(exports.map(|f| (f.interface.as_deref(), f.name.as_str()))) {
        // An MCP server component: its tools are what it lists when it
        // runs (see `crate::proxied`), none from its types.
        return Ok(ComponentTools {
            tools: Vec::new(),
            skipped: Vec::new(),
            texts: Vec::new(),
            derived: false,
        });
    }
    let mut built = component_tools(
        component,
        docs,
        inspection
            .functions
            .iter()
            .map(|f| (f.interface.as_deref(), f.name.as_str(), &f.signature)),
    )?;
    built
        .skipped
        .extend(toolchain_skipped(component, &inspection.toolchain_exports));
    Ok(built)
}

/// Derives the tool definitions of the component with `digest` and keeps
/// them beside its description on the engine `metering` picks, so the
/// next start reads them (`weld add` does this once it has compiled the
/// component). A component refused by the caps keeps nothing: each start
/// refuses it again, with the reason.
pub fn keep_tool_texts(
    runtime: &weld_runtime::Runtime,
    digest: &str,
    metering: weld_runtime::Metering,
    description: &weld_runtime::Description,
    docs: &weld_store::ComponentDocs,
) {
    let functions = description
        .functions
        .iter()
        .map(|f| (f.interface.as_deref(), f.name.as_str(), &f.signature));
    // The name only shapes what is not kept (tool names, descriptions).
    let Ok(built) = component_tools("component", docs, functions) else {
        return;
    };
    let prepared = super::prepared::encode(&built.texts);
    if let Err(error) = runtime.keep_prepared(digest, metering, description, &prepared) {
        tracing::warn!(%error, "tool definitions not kept: the next start derives them again");
    }
}

/// The exports a component's toolchain added, as functions that are not
/// tools: named as their tool would have been (`component_exports_init`),
/// or by the interface when the whole interface is the toolchain's.
pub fn toolchain_skipped(
    component: &str,
    exports: &[weld_runtime::ToolchainExport],
) -> impl Iterator<Item = Skipped> {
    exports.iter().map(move |export| {
        let interface_short = export
            .interface
            .as_deref()
            .map(weld_runtime::short_interface_name);
        let function = match (interface_short, export.name.as_str()) {
            (Some(interface), "") => format!("{component}_{interface}"),
            (interface, name) => tool_name(component, interface, name),
        };
        Skipped {
            component: component.to_string(),
            function,
            reason: export.reason.to_string(),
            toolchain: true,
        }
    })
}

#[cfg(test)]
mod tests {
    use weld_schema::{Node, Signature, TypeError, TypeSource};
    use weld_store::{ComponentDocs, Digest, FunctionDocs, Store};

    use super::{EntryDocs, component_tools, kept_component_tools, within};
    use crate::catalog::{json_len, prepared};

    /// A record of `width` `u8` fields named `f0`…
    #[derive(Clone, Copy)]
    struct Flat(usize);

    impl TypeSource for Flat {
        fn node(&self) -> Node<Self> {
            if self.0 == 0 {
                return Node::U8;
            }
            Node::Record((0..self.0).map(|i| (format!("f{i}"), Flat(0))).collect())
        }
    }

    fn signature(width: usize, result: bool) -> Result<Signature, TypeError> {
        let results: Vec<Flat> = if result {
            vec![Flat(width)]
        } else {
            Vec::new()
        };
        Signature::from_source([("x", Flat(width))], results.into_iter())
    }

    /// Docs whose text JSON must escape, for `f` only (`g` gets a
    /// generated description).
    fn docs() -> ComponentDocs {
        let mut docs = ComponentDocs::default();
        docs.0.insert(
            "f".into(),
            FunctionDocs {
                description: Some("Says \"hi\"\n\tto \\ you, ünïcödé \u{1} </script>".into()),
                params: [("x".to_string(), "the \"x\"".to_string())].into(),
            },
        );
        docs
    }

    /// What the derivation makes of a known function, pinned with the
    /// `FORMAT` it is kept under: a change to either schema derivation or
    /// descriptions fails here first, and must bump `FORMAT` (kept
    /// definitions of the old rules are then derived again) and update
    /// this text.
    #[test]
    fn a_change_to_derived_definitions_comes_with_a_format_bump() {
        let f = signature(2, true);
        let built = component_tools("c", &docs(), [(None, "f", &f), (None, "g", &f)])
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        let kept = |at: usize| {
            let texts = built.texts[at].as_ref().expect("a tool");
            (
                texts.input.as_str().to_string(),
                texts.output.as_ref().map(|o| o.as_str().to_string()),
                texts.signature.as_deref().map(str::to_string),
                texts.description.as_deref().map(str::to_string),
            )
        };
        // SipHash with fixed keys: the same on every machine and toolchain.
        #[expect(deprecated, reason = "a fixed-key SipHash is what a pin needs")]
        let mut hasher = std::hash::SipHasher::new();
        std::hash::Hash::hash(&(kept(0), kept(1)), &mut hasher);
        let derived = (prepared::FORMAT, std::hash::Hasher::finish(&hasher));
        assert_eq!(
            derived,
            (3, 0xd93f_8462_eac3_03c4),
            "derived definitions changed: bump FORMAT in catalog/prepared.rs, then pin the \
             new pair here"
        );
    }

    #[test]
    fn a_tool_is_measured_as_exactly_the_bytes_of_its_definition() {
        let (f, g) = (signature(3, true), signature(2, false));
        let built = component_tools(
            "c",
            &docs(),
            [(None, "f", &f), (Some("a:b/i@1.0.0"), "g", &g)],
        )
        .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert_eq!(built.tools.len(), 2);
        for tool in &built.tools {
            let text = serde_json::to_string(&tool.tool).expect("JSON");
            assert_eq!(tool.tool.listing_bytes(), text.len() as u64, "{text}");
            assert_eq!(tool.tool.listing_bytes(), json_len(&tool.tool));
        }
    }

    #[test]
    fn kept_definitions_build_the_same_tools_as_derived_ones_without_deriving() {
        let (f, g) = (signature(3, true), signature(2, false));
        let functions = || [(None, "f", &f), (Some("a:b/i@1.0.0"), "g", &g)];
        let docs = docs();
        let derived = component_tools("c", &docs, functions())
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert!(derived.derived);
        let kept = prepared::decode(&prepared::encode(&derived.texts), 2).expect("read back");
        // Under another name: what is kept does not depend on it.
        let read = kept_component_tools(
            "other",
            &EntryDocs::Read(docs.clone()),
            functions(),
            Some(&kept),
        )
        .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert!(!read.derived, "nothing derived again");
        let renamed = component_tools("other", &docs, functions())
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        let specs =
            |b: &super::ComponentTools| b.tools.iter().map(|t| t.tool.clone()).collect::<Vec<_>>();
        assert_eq!(specs(&read), specs(&renamed));
        assert!(specs(&read)[1].description.contains("component `other`"));
    }

    #[test]
    fn kept_definitions_are_used_without_reading_the_blob_and_an_unreadable_blob_refuses_a_derive()
    {
        let f = signature(3, true);
        let functions = || [(None, "f", &f)];
        let derived = component_tools("c", &docs(), functions())
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        let kept = prepared::decode(&prepared::encode(&derived.texts), 1).expect("read back");
        // A store without the blob: its docs cannot be read.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let missing = EntryDocs::InBlob(store, Digest::of(b"not installed"));
        let read = kept_component_tools("c", &missing, functions(), Some(&kept))
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert_eq!(read.tools.len(), 1);
        assert!(!read.derived);
        let Err(refused) = kept_component_tools("c", &missing, functions(), None) else {
            panic!("docs that cannot be read cannot derive a definition");
        };
        assert!(
            refused
                .reason
                .starts_with("its docs could not be read from it"),
            "{}",
            refused.reason
        );
    }

    #[test]
    fn a_component_whose_tools_together_exceed_the_cap_is_refused_naming_the_sizes() {
        let f = signature(3, true);
        let built = component_tools("c", &docs(), [(None, "f", &f), (None, "g", &f)])
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        let total: u64 = built.tools.iter().map(|t| t.tool.listing_bytes()).sum();
        let Err(refused) = within("c", built, total - 1) else {
            panic!("the component must be refused");
        };
        assert_eq!(refused.function, "");
        assert_eq!(
            refused.reason,
            format!(
                "its tools take {total} bytes of JSON in the tool listing, over the cap of {} \
                 bytes for all tools; the component is refused whole",
                total - 1
            )
        );
        let built = component_tools("c", &docs(), [(None, "f", &f), (None, "g", &f)])
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert!(within("c", built, total).is_ok(), "exactly at the cap");
    }
}
