//! YAML → [`Node`] through `saphyr-parser`'s event stream.
//!
//! Refused here, with a location: anchors, aliases and tags (a policy is read
//! by people; every value must be written where it applies — this also rules
//! out alias "billion laughs" expansion), complex mapping keys, and more than
//! one document.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use crate::error::{ErrorKind, Location, PolicyError};
use crate::tree::{self, Entry, MAX_DEPTH, Node, Value};

fn loc(m: &Marker) -> Location {
    Location {
        line: m.line(),
        column: m.col() + 1,
    }
}

enum Frame {
    Seq(Vec<Node>, Location),
    Map(Vec<Entry>, Location, Option<(String, Location)>),
}

/// Reads one YAML document into a tree; `None` when the stream holds no
/// document at all.
pub(crate) fn read(text: &str) -> Result<Option<Node>, PolicyError> {
    let text = tree::prepare(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            PolicyError::at(
                ErrorKind::Syntax,
                loc(e.marker()),
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        let at = loc(&span.start);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(PolicyError::at(
                        ErrorKind::Syntax,
                        at,
                        "a second YAML document; a policy file holds exactly one (remove the `---` and what follows, or split the file)",
                    ));
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(PolicyError::at(
                    ErrorKind::Syntax,
                    at,
                    "YAML aliases (`*name`) are not supported in a policy; write the value out where it applies",
                ));
            }
            Event::Scalar(text, style, anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), at)?;
                let value = match style {
                    ScalarStyle::Plain => tree::resolve_plain(&text),
                    _ => Value::Str(text.into_owned()),
                };
                Node { value, at }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), at)?;
                if let Some(Frame::Map(_, _, None)) = stack.last() {
                    return Err(PolicyError::at(
                        ErrorKind::Syntax,
                        at,
                        "a list or mapping used as a mapping key; keys in a policy are plain names",
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(tree::too_deep(at));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), at)
                } else {
                    Frame::Map(Vec::new(), at, None)
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, start)) => Node {
                    value: Value::Seq(items),
                    at: start,
                },
                _ => return Err(internal(at)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, start, None)) => Node {
                    value: Value::Map(entries),
                    at: start,
                },
                _ => return Err(internal(at)),
            },
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, _, pending)) => match pending.take() {
                Some((key, key_at)) => entries.push(Entry {
                    key,
                    key_at,
                    value: node,
                }),
                None => *pending = Some((key_text(node)?, at)),
            },
        }
    }
    Ok(root)
}

fn refuse_anchor_and_tag(anchor: usize, tagged: bool, at: Location) -> Result<(), PolicyError> {
    if anchor != 0 {
        return Err(PolicyError::at(
            ErrorKind::Syntax,
            at,
            "YAML anchors (`&name`) are not supported in a policy; write the value out where it applies",
        ));
    }
    if tagged {
        return Err(PolicyError::at(
            ErrorKind::Syntax,
            at,
            "YAML tags (`!name`, `!!str`) are not supported in a policy; remove the tag (quote a value to make it a string)",
        ));
    }
    Ok(())
}

fn key_text(node: Node) -> Result<String, PolicyError> {
    match node.value {
        Value::Str(s) | Value::Int(s) | Value::Float(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(PolicyError::at(
            ErrorKind::Syntax,
            node.at,
            "an empty mapping key; write the field name before the `:`",
        )),
        Value::Seq(_) | Value::Map(_) => Err(internal(node.at)),
    }
}

fn internal(at: Location) -> PolicyError {
    PolicyError::at(
        ErrorKind::Syntax,
        at,
        "invalid YAML: unbalanced collection events",
    )
}
