//! A small, strict JSON (RFC 8259) parser plus JSON Pointer (RFC 6901)
//! resolution. Hand-written to keep the component free of dependencies.

use std::fmt::Write as _;

/// Nesting deeper than this is rejected instead of risking the guest's stack.
const MAX_DEPTH: usize = 256;

#[derive(Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    /// The number exactly as written (validated against the JSON grammar).
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in document order; duplicate keys are kept, lookups take the last.
    Object(Vec<(String, Value)>),
}

/// Resolves `pointer` in `document` and returns the selected value as compact JSON.
pub fn pointer(document: &str, pointer: &str) -> Result<String, String> {
    let root = parse(document)?;
    let value = resolve(&root, pointer)?;
    let mut out = String::new();
    write_value(value, &mut out);
    Ok(out)
}

fn resolve<'v>(root: &'v Value, pointer: &str) -> Result<&'v Value, String> {
    if pointer.is_empty() {
        return Ok(root);
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "invalid JSON pointer {pointer:?}: must be empty or start with '/'"
        ));
    };
    let mut current = root;
    let mut walked = String::new();
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        if raw.replace("~0", "").replace("~1", "").contains('~') {
            return Err(format!(
                "invalid JSON pointer {pointer:?}: '~' must be followed by 0 or 1"
            ));
        }
        walked.push('/');
        walked.push_str(raw);
        current = match current {
            Value::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| *k == token)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("{walked}: no member named {token:?}"))?,
            Value::Array(items) => {
                let valid = token == "0"
                    || (!token.is_empty()
                        && !token.starts_with('0')
                        && token.bytes().all(|b| b.is_ascii_digit()));
                if !valid {
                    return Err(format!(
                        "{walked}: {token:?} is not an array index (expected 0, 1, 2, ...)"
                    ));
                }
                let index: usize = token.parse().unwrap_or(usize::MAX);
                items.get(index).ok_or_else(|| {
                    format!(
                        "{walked}: index {token} is out of bounds (array has {} elements)",
                        items.len()
                    )
                })?
            }
            _ => {
                return Err(format!(
                    "{walked}: cannot step into {}, only into objects and arrays",
                    kind(current)
                ));
            }
        };
    }
    Ok(current)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn parse(text: &str) -> Result<Value, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("unexpected data after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a JSON value")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.pos += 1;
                let mut items = vec![];
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    self.skip_ws();
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members = vec![];
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a string key"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    self.expect(b':')?;
                    self.skip_ws();
                    let value = self.value(depth + 1)?;
                    members.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Object(members));
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        Ok(Value::Number(self.text[start..self.pos].to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let hex = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .filter(|_| {
                self.bytes[self.pos..self.pos + 4]
                    .iter()
                    .all(u8::is_ascii_hexdigit)
            })
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(hex)
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the longest run of plain characters in one go. Stopping at
            // ASCII '"', '\\' or a control byte always lands on a char boundary.
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut code = self.hex4()?;
                            if (0xD800..0xDC00).contains(&code)
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let low = self.hex4()?;
                                if (0xDC00..0xE000).contains(&low) {
                                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            // Lone surrogates cannot be represented in a Rust
                            // (or WIT) string: replace them.
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape sequence"));
                        }
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_pointers() {
        let doc = r#" { "a" : [10, {"b": true, "c/d": "x\"y", "e~f": null}], "n": -1.5e3 } "#;
        assert_eq!(
            pointer(doc, "").unwrap(),
            r#"{"a":[10,{"b":true,"c/d":"x\"y","e~f":null}],"n":-1.5e3}"#
        );
        assert_eq!(pointer(doc, "/a/1/b").unwrap(), "true");
        assert_eq!(pointer(doc, "/a/0").unwrap(), "10");
        assert_eq!(pointer(doc, "/a/1/c~1d").unwrap(), r#""x\"y""#);
        assert_eq!(pointer(doc, "/a/1/e~0f").unwrap(), "null");
        assert_eq!(pointer(doc, "/n").unwrap(), "-1.5e3");
        assert!(pointer(doc, "/a/2").unwrap_err().contains("out of bounds"));
        assert!(pointer(doc, "/a/01").is_err());
        assert!(pointer(doc, "/a/-").is_err());
        assert!(pointer(doc, "/zz").unwrap_err().contains("no member"));
        assert!(pointer(doc, "/n/x").unwrap_err().contains("a number"));
        assert!(pointer(doc, "a").is_err());
        assert!(pointer(doc, "/a~2").is_err());
        // RFC 6901 examples.
        let rfc = r#"{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8}"#;
        for (p, want) in [
            ("/foo/0", "\"bar\""),
            ("/", "0"),
            ("/a~1b", "1"),
            ("/c%d", "2"),
            ("/e^f", "3"),
            ("/g|h", "4"),
            ("/i\\j", "5"),
            ("/k\"l", "6"),
            ("/ ", "7"),
            ("/m~0n", "8"),
        ] {
            assert_eq!(pointer(rfc, p).unwrap(), want, "{p}");
        }
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            parse(r#""\u00e9\ud83d\ude00\n""#).unwrap(),
            Value::String("é😀\n".into())
        );
        assert_eq!(
            parse(r#""\ud800x""#).unwrap(),
            Value::String("\u{FFFD}x".into())
        );
        assert_eq!(pointer(r#""tab\u0001""#, "").unwrap(), r#""tab\u0001""#);
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"\\x\"",
            "\"a",
            "[1] 2",
            "\"\t\"",
            "{1:2}",
            "\"\\u12\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
    }
}
