//! JSON (RFC 8259, nothing more) → [`Node`], keeping the place of every value
//! and key. Hand-written because no JSON crate reports where a *valid* value
//! sits, and the validation errors need that for JSON as much as for YAML.
//! Duplicate keys are kept here and refused by the decoder, which names both.

use crate::error::{ErrorKind, Location, PolicyError};
use crate::tree::{self, Entry, MAX_DEPTH, Node, Value};

/// Reads one JSON value into a tree; `None` when the text is only whitespace.
pub(crate) fn read(text: &str) -> Result<Option<Node>, PolicyError> {
    let text = tree::prepare(text)?;
    let mut r = Reader {
        s: text.as_bytes(),
        i: 0,
        line: 1,
        column: 1,
    };
    r.skip_ws();
    if r.i == r.s.len() {
        return Ok(None);
    }
    let node = r.value(0)?;
    r.skip_ws();
    if r.i != r.s.len() {
        return Err(r.error("unexpected text after the JSON value; a policy is one JSON object"));
    }
    Ok(Some(node))
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    column: usize,
}

impl Reader<'_> {
    fn here(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }

    fn error(&self, message: &str) -> PolicyError {
        PolicyError::at(
            ErrorKind::Syntax,
            self.here(),
            format!("invalid JSON: {message}"),
        )
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Advances one byte, keeping line and column (in characters) right.
    fn bump(&mut self) {
        let Some(b) = self.peek() else { return };
        self.i += 1;
        match b {
            b'\n' => {
                self.line += 1;
                self.column = 1;
            }
            b'\r' if self.peek() != Some(b'\n') => {
                self.line += 1;
                self.column = 1;
            }
            b'\r' => {}
            // UTF-8 continuation bytes do not start a character.
            0x80..=0xBF => {}
            _ => self.column += 1,
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn expect_word(&mut self, word: &str, value: Value) -> Result<Node, PolicyError> {
        let at = self.here();
        if self.s[self.i..].starts_with(word.as_bytes()) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(Node { value, at })
        } else {
            Err(self
                .error("expected a value (an object, array, string, number, true, false or null)"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, PolicyError> {
        let at = self.here();
        match self.peek() {
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(tree::too_deep(at));
                }
                self.object(depth + 1)
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(tree::too_deep(at));
                }
                self.array(depth + 1)
            }
            Some(b'"') => Ok(Node {
                value: Value::Str(self.string()?),
                at,
            }),
            Some(b't') => self.expect_word("true", Value::Bool(true)),
            Some(b'f') => self.expect_word("false", Value::Bool(false)),
            Some(b'n') => self.expect_word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.error("unexpected end of input; expected a value")),
            Some(_) => Err(self
                .error("expected a value (an object, array, string, number, true, false or null)")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, PolicyError> {
        let at = self.here();
        self.bump();
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(Node {
                value: Value::Map(entries),
                at,
            });
        }
        loop {
            self.skip_ws();
            let key_at = self.here();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after the key"));
            }
            self.bump();
            self.skip_ws();
            let value = self.value(depth)?;
            entries.push(Entry { key, key_at, value });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(Node {
                        value: Value::Map(entries),
                        at,
                    });
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, PolicyError> {
        let at = self.here();
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(Node {
                value: Value::Seq(items),
                at,
            });
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return Ok(Node {
                        value: Value::Seq(items),
                        at,
                    });
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn number(&mut self) -> Result<Node, PolicyError> {
        let at = self.here();
        let start = self.i;
        let mut integral = true;
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => self.bump(),
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            integral = false;
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integral = false;
            self.bump();
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.bump();
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit in the exponent"));
            }
            self.digits();
        }
        // Only ASCII was consumed, so the slice is valid UTF-8.
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        // A number no 64-bit float holds (`1e310`) is refused, as
        // serde_json refuses it: RFC 8259 lets a reader limit the range, and
        // "JSON accepted" should mean the same here as everywhere else.
        if text.parse::<f64>().map_or(true, f64::is_infinite) {
            return Err(PolicyError::at(
                ErrorKind::Syntax,
                at,
                format!("invalid JSON: the number {text} is out of range (beyond a 64-bit float)"),
            ));
        }
        let value = if integral {
            Value::Int(text)
        } else {
            Value::Float(text)
        };
        Ok(Node { value, at })
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.bump();
        }
    }

    fn string(&mut self) -> Result<String, PolicyError> {
        self.bump(); // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.bump();
                    break;
                }
                Some(b'\\') => {
                    self.bump();
                    let c = self.escape()?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(b) if b < 0x20 => {
                    return Err(
                        self.error("a control character in a string; escape it (e.g. `\\n`)")
                    );
                }
                Some(b) => {
                    out.push(b);
                    self.bump();
                }
            }
        }
        // The input is a &str and escapes produce whole characters, so the
        // bytes between quotes are valid UTF-8.
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in a string"))
    }

    fn escape(&mut self) -> Result<char, PolicyError> {
        let Some(b) = self.peek() else {
            return Err(self.error("unterminated string"));
        };
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                self.bump();
                let hi = self.hex4()?;
                return match hi {
                    0xD800..=0xDBFF => {
                        if self.peek() != Some(b'\\') || self.s.get(self.i + 1) != Some(&b'u') {
                            return Err(self.error("a lone UTF-16 surrogate in a `\\u` escape"));
                        }
                        self.bump();
                        self.bump();
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(self.error("a lone UTF-16 surrogate in a `\\u` escape"));
                        }
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(c).ok_or_else(|| self.error("an invalid `\\u` escape"))
                    }
                    0xDC00..=0xDFFF => Err(self.error("a lone UTF-16 surrogate in a `\\u` escape")),
                    _ => char::from_u32(hi).ok_or_else(|| self.error("an invalid `\\u` escape")),
                };
            }
            _ => {
                return Err(self.error(
                    "an invalid escape; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                ));
            }
        };
        self.bump();
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, PolicyError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("expected four hex digits after `\\u`")),
            };
            v = v * 16 + u32::from(d);
            self.bump();
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(line: usize, column: usize) -> Location {
        Location { line, column }
    }

    #[test]
    fn values_keep_their_line_and_character_column() {
        let node = read("{\n  \"é\": [1, 2.5, \"x\"],\n  \"b\": null}")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        assert_eq!(entries[0].key, "é");
        assert_eq!(entries[0].key_at, at(2, 3));
        assert_eq!(entries[0].value.at, at(2, 8));
        let Value::Seq(items) = &entries[0].value.value else {
            panic!()
        };
        assert_eq!(
            items[1],
            Node {
                value: Value::Float("2.5".into()),
                at: at(2, 12)
            }
        );
        assert_eq!(
            entries[1].value,
            Node {
                value: Value::Null,
                at: at(3, 8)
            }
        );
    }

    #[test]
    fn escapes_and_surrogate_pairs_decode() {
        let node = read(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#)
            .unwrap()
            .unwrap();
        assert_eq!(node.value, Value::Str("a\"\\/\u{8}\u{c}\n\r\té😀".into()));
    }

    #[test]
    fn malformed_json_is_refused_at_the_offending_character() {
        let cases = [
            (
                "{\"a\": 1,}",
                "1:9: invalid JSON: expected a string key in double quotes",
            ),
            ("{\"a\" 1}", "1:6: invalid JSON: expected `:` after the key"),
            ("[1 2]", "1:4: invalid JSON: expected `,` or `]`"),
            (
                "{} x",
                "1:4: invalid JSON: unexpected text after the JSON value; a policy is one JSON object",
            ),
            (
                "01",
                "1:2: invalid JSON: unexpected text after the JSON value; a policy is one JSON object",
            ),
            (
                "1.",
                "1:3: invalid JSON: expected a digit after the decimal point",
            ),
            (
                "[1, 1e310]",
                "1:5: invalid JSON: the number 1e310 is out of range (beyond a 64-bit float)",
            ),
            (
                "\"\\ud800\"",
                "1:8: invalid JSON: a lone UTF-16 surrogate in a `\\u` escape",
            ),
            (
                "\"a\tb\"",
                "1:3: invalid JSON: a control character in a string; escape it (e.g. `\\n`)",
            ),
            (
                "\"\\x\"",
                "1:3: invalid JSON: an invalid escape; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
            ),
            (
                "nul",
                "1:1: invalid JSON: expected a value (an object, array, string, number, true, false or null)",
            ),
            (
                "[",
                "1:2: invalid JSON: unexpected end of input; expected a value",
            ),
            ("\"abc", "1:5: invalid JSON: unterminated string"),
            ("-a", "1:2: invalid JSON: expected a digit"),
            ("1e+", "1:4: invalid JSON: expected a digit in the exponent"),
            (
                "\"\\u12x4\"",
                "1:6: invalid JSON: expected four hex digits after `\\u`",
            ),
            ("{\"a\": 1 \"b\"}", "1:9: invalid JSON: expected `,` or `}`"),
            (
                "\"\\udc00\"",
                "1:8: invalid JSON: a lone UTF-16 surrogate in a `\\u` escape",
            ),
            (
                "\"\\ud800\\u0041\"",
                "1:14: invalid JSON: a lone UTF-16 surrogate in a `\\u` escape",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(read(text).unwrap_err().to_string(), expected, "{text:?}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let text = "[".repeat(MAX_DEPTH + 1);
        let err = read(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:33: the document nests deeper than 32 levels; a policy needs at most 6"
        );
    }

    #[test]
    fn whitespace_only_is_no_document() {
        assert_eq!(read(" \n\t").unwrap(), None);
    }

    proptest! {
        /// The reader accepts exactly what serde_json accepts (below the
        /// depth limit), so "JSON accepted" means JSON.
        #[test]
        fn accepts_exactly_what_serde_json_accepts(text in json_like()) {
            let ours = read(&text).map(|n| n.is_some()).unwrap_or(false);
            let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            prop_assert_eq!(ours, theirs, "{:?}", text);
        }
    }

    fn json_like() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("true".to_string()),
            Just("nul".to_string()),
            Just("null".to_string()),
            "-?[0-9]{0,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
            "\"([a-z]|\\\\[\"\\\\/bfnrtux]|\\\\u[0-9a-fA-F]{4}|\\\\ud83d\\\\ude00|\\t|é)*\"?",
        ];
        proptest::collection::vec(atom, 0..12).prop_map(|v| v.concat())
    }
}
