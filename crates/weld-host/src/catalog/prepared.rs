//! Tool definitions kept beside an installed component's description, so
//! a start lists its tools by reading text rather than building every
//! schema again (issue 12: with a thousand components, building the
//! schemas was half of start-up).
//!
//! What is kept is each function's [`FunctionTexts`]: its schemas as
//! compact JSON text and its description as its docs give it or, when
//! they give none, its signature as the generated description writes it.
//! They depend on the component's types (the description they are kept
//! with), its docs (its `package-docs` section: like its types, they
//! follow from its digest) and the rules that derive them (this crate's
//! version and [`FORMAT`], which the [`key`] names), so texts derived by
//! other rules are derived again, never used, and a start whose kept texts
//! match reads neither the component's docs nor its blob. The runtime
//! authenticates them with the description (see `weld_runtime::Prepared`).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use weld_runtime::Prepared;

use super::spec::{FunctionTexts, SchemaText};
use crate::lazy::Code;

/// The version of the derivation rules: bump it when a schema, a
/// description or the generated signature would come out differently for
/// the same component (its types, or its docs as `weld_store::docs::read`
/// reads them).
pub(crate) const FORMAT: u32 = 3;

/// How many texts one function keeps: input, output, signature,
/// description.
const PER_FUNCTION: usize = 4;

/// The key texts derived by these rules are kept under.
fn key() -> &'static str {
    static KEY: LazyLock<String> =
        LazyLock::new(|| format!("weld-host {} tools {FORMAT}", env!("CARGO_PKG_VERSION")));
    &KEY
}

/// The texts kept in `prepared` for a component of `functions` functions,
/// by position; `None` when they were derived by other rules, or for
/// another list of functions.
pub(crate) fn decode(prepared: &Prepared, functions: usize) -> Option<Vec<Option<FunctionTexts>>> {
    if prepared.texts.len() != functions.checked_mul(PER_FUNCTION)? || prepared.key != key() {
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

/// `texts` (by function position) as kept.
pub(crate) fn encode(texts: &[Option<FunctionTexts>]) -> Prepared {
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
        key: key().to_string(),
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
    /// Keeps `texts`, derived for `code`: in memory at once
    /// (the next catalog built from the same code reads them), and beside
    /// its description for the next start, when it is an installed
    /// component's.
    pub(crate) fn add(&mut self, code: &Arc<Code>, texts: &[Option<FunctionTexts>]) {
        let Some(file) = code.description_file() else {
            return;
        };
        let prepared = encode(texts);
        code.set_prepared(prepared.clone());
        if self.files.insert(file) {
            self.pending.push((Arc::clone(code), prepared));
        }
    }

    /// Writes what was added, in a thread of its own: a start serves at
    /// once, and each file is replaced atomically whenever it is written.
    /// [`finish_keeping`] lets a process that is about to exit wait for it.
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
        match spawned {
            Ok(thread) => {
                // Those already written are let go: a server that reloads
                // for weeks holds only the writes still running.
                let mut keeping = KEEPING.lock().unwrap_or_else(PoisonError::into_inner);
                keeping.retain(|thread| !thread.is_finished());
                keeping.push(thread);
            }
            Err(error) => {
                tracing::warn!(%error, "tool definitions not kept: the next start derives them again");
            }
        }
    }
}

/// The threads writing kept definitions ([`Keep::in_background`]).
static KEEPING: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits, up to `limit`, for the definitions being kept in the background
/// to be written: a process that exits with a write in flight would leave
/// the next start to derive them again (and a temporary file behind).
/// Returns whether every write finished.
pub fn finish_keeping(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let mut keeping = KEEPING.lock().unwrap_or_else(PoisonError::into_inner);
        keeping.retain(|thread| !thread.is_finished());
        if keeping.is_empty() {
            return true;
        }
        drop(keeping);
        if Instant::now() >= deadline {
            tracing::warn!(
                "exiting while tool definitions are still being kept: the next start derives them again"
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{decode, encode};
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
    fn kept_texts_read_back() {
        assert_eq!(decode(&encode(&texts()), 3), Some(texts()));
    }

    #[test]
    fn kept_texts_are_not_used_for_other_rules_or_other_functions() {
        let prepared = encode(&texts());
        assert_eq!(decode(&prepared, 4), None, "another list of functions");
        let mut other_rules = prepared.clone();
        other_rules.key = "weld-host 0.0.1 tools 1".into();
        assert_eq!(decode(&other_rules, 3), None, "other rules");
    }
}
