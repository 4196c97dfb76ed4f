//! One notation for "where in the value" shared by conversion errors and
//! unsupported-type errors, so a caller sees `opts.items[3]` the same way
//! whichever error points there. Paths are only built when an error is
//! reported, never on the success path.

/// One step from a value into a part of it.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    /// A record field, variant case, `ok`/`err`, `some` or parameter name.
    Field(String),
    /// An array position.
    Index(usize),
    /// A key of a string-keyed map.
    Key(String),
    /// A position inside a type rather than a value (e.g. `[]` for "any
    /// element of the list"); used by unsupported-type errors.
    Raw(&'static str),
}

/// Renders segments (outermost first) as `a.b[3]["k"]`.
pub(crate) fn render(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        push(&mut out, seg);
    }
    out
}

pub(crate) fn push(out: &mut String, seg: &Seg) {
    match seg {
        Seg::Field(name) => {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
        }
        Seg::Index(i) => {
            out.push('[');
            out.push_str(&i.to_string());
            out.push(']');
        }
        Seg::Key(k) => {
            out.push('[');
            out.push_str(&serde_json::Value::String(k.clone()).to_string());
            out.push(']');
        }
        Seg::Raw(s) => out.push_str(s),
    }
}

/// `name` followed by an already-rendered relative path.
pub(crate) fn join_field(name: &str, rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') || rest.starts_with('{') {
        format!("{name}{rest}")
    } else {
        format!("{name}.{rest}")
    }
}
