//! Tool definitions kept beside an installed component's description, so
//! a start lists its tools by reading text rather than building every
//! schema again (issue 12: with a thousand components, building the
//! schemas was half of start-up).
//!
//! What is kept is each function's [`FunctionTexts`]: its schemas as
//! compact JSON text and its description as its docs give it or, when
//! they give none, its signature as the generated description writes it.
//! They depend on the component's types (the description they are kept
//! with), its docs (from the component's `package-docs`, held in the index
//! as JSON text) and the rules that derive them (this crate's version and
//! [`FORMAT`]); the [`key`] names the last two, by a hash of the docs'
//! text, so texts derived from other docs or by other rules are derived
//! again, never used, and a start whose kept texts match never parses the
//! docs. The runtime authenticates them with the description (see
//! `weld_runtime::Prepared`).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use weld_runtime::Prepared;
use weld_store::DocsText;

use super::spec::{FunctionTexts, SchemaText};
use crate::lazy::Code;

/// The version of the derivation rules: bump it when a schema or the
/// generated signature would come out differently for the same types.
const FORMAT: u32 = 2;

/// How many texts one function keeps: input, output, signature,
/// description.
const PER_FUNCTION: usize = 4;

/// The key texts derived from `docs` by these rules are kept under.
pub(crate) fn key(docs: &DocsText) -> String {
    // The docs' text as the index holds it: the same docs written another
    // way (by hand, by another program) only mean deriving again. SipHash
    // with fixed keys: the same in every process; a change of Rust's
    // hasher only means deriving again too.
    #[expect(deprecated, reason = "a fixed-key SipHash is what a kept key needs")]
    let mut hasher = std::hash::SipHasher::new();
    docs.as_str().hash(&mut hasher);
    format!(
        "weld-host {} tools {FORMAT} docs {:016x}",
        env!("CARGO_PKG_VERSION"),
        hasher.finish()
    )
}

/// The texts kept in `prepared` for a component of `functions` functions
/// with `docs`, by position; `None` when they were derived from other docs,
/// by other rules, or for another list of functions.
pub(crate) fn decode(
    prepared: &Prepared,
    functions: usize,
    docs: &DocsText,
) -> Option<Vec<Option<FunctionTexts>>> {
    if prepared.texts.len() != functions.checked_mul(PER_FUNCTION)? || prepared.key != key(docs) {
        return None;
    }
    Some(
        prepared
            .texts
            .chunks_exact(PER_FUNCTION)
            .map(|texts| {
                let [input, output, signature, description] = texts else {
                    return None;
                };
                Some(FunctionTexts {
                    input: SchemaText::kept(input.clone()?),
                    output: output.clone().map(SchemaText::kept),
                    signature: signature.clone(),
                    description: description.clone(),
                })
            })
            .collect(),
    )
}

/// `texts` (by function position) as kept for `docs`.
pub(crate) fn encode(texts: &[Option<FunctionTexts>], docs: &DocsText) -> Prepared {
    let mut kept = Vec::with_capacity(texts.len() * PER_FUNCTION);
    for texts in texts {
        match texts {
            Some(t) => kept.extend([
                Some(t.input.shared().clone()),
                t.output.as_ref().map(|o| o.shared().clone()),
                t.signature.clone(),
                t.description.clone(),
            ]),
            None => kept.extend([None, None, None, None]),
        }
    }
    Prepared {
        key: key(docs),
        texts: kept,
    }
}

/// Texts derived while a catalog was built, to keep beside their
/// components' descriptions once it is built ([`Keep::in_background`]).
#[derive(Default)]
pub(crate) struct Keep {
    pending: Vec<(Arc<Code>, Prepared)>,
    /// Each description file once (one component may be installed under
    /// many names).
    files: HashSet<(weld_store::Digest, weld_runtime::Metering)>,
}

impl Keep {
    /// Keeps `texts`, derived for `code` with `docs`: in memory at once
    /// (the next catalog built from the same code reads them), and beside
    /// its description for the next start, when it is an installed
    /// component's.
    pub(crate) fn add(
        &mut self,
        code: &Arc<Code>,
        texts: &[Option<FunctionTexts>],
        docs: &DocsText,
    ) {
        let Some(file) = code.description_file() else {
            return;
        };
        let prepared = encode(texts, docs);
        code.set_prepared(prepared.clone());
        if self.files.insert(file) {
            self.pending.push((Arc::clone(code), prepared));
        }
    }

    /// Writes what was added, in a thread of its own: a start serves at
    /// once, and each file is replaced atomically whenever it is written.
    pub(crate) fn in_background(self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = self.pending;
        let spawned = std::thread::Builder::new()
            .name("weld-keep-tools".into())
            .spawn(move || {
                for (code, prepared) in pending {
                    code.keep_prepared(&prepared);
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "tool definitions not kept: the next start derives them again");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weld_store::{ComponentDocs, DocsText, FunctionDocs};

    use super::{decode, encode, key};
    use crate::catalog::spec::{FunctionTexts, SchemaText};

    fn texts() -> Vec<Option<FunctionTexts>> {
        vec![
            Some(FunctionTexts {
                input: SchemaText::kept(Arc::from(r#"{"type":"object"}"#)),
                output: None,
                signature: Some(Arc::from("f: func()")),
                description: None,
            }),
            None,
            Some(FunctionTexts {
                input: SchemaText::kept(Arc::from(r#"{"type":"object"}"#)),
                output: Some(SchemaText::kept(Arc::from(r#"{"type":"string"}"#))),
                signature: None,
                description: Some(Arc::from("Does g.")),
            }),
        ]
    }

    #[test]
    fn kept_texts_read_back_for_the_same_docs() {
        let docs = DocsText::default();
        let prepared = encode(&texts(), &docs);
        assert_eq!(decode(&prepared, 3, &docs), Some(texts()));
    }

    #[test]
    fn kept_texts_are_not_used_for_other_docs_or_other_functions() {
        let docs = DocsText::default();
        let prepared = encode(&texts(), &docs);
        assert_eq!(
            decode(&prepared, 4, &docs),
            None,
            "another list of functions"
        );
        let mut other = ComponentDocs::default();
        other.0.insert(
            "f".into(),
            FunctionDocs {
                description: None,
                params: [("x".to_string(), "the x".to_string())].into(),
            },
        );
        let other_text = DocsText::of(&other);
        assert_ne!(key(&docs), key(&other_text));
        assert_eq!(
            decode(&prepared, 3, &other_text),
            None,
            "other parameter docs"
        );
        let mut described = other.clone();
        described.0.get_mut("f").expect("f").description = Some("does f".into());
        assert_ne!(
            key(&other_text),
            key(&DocsText::of(&described)),
            "another description"
        );
    }
}
