//! `weld-examples:text`: pure text and JSON utilities served by weld as MCP tools.
//!
//! The WIT in `wit/text.wit` is the contract; `wit_bindgen::generate!` turns it
//! into the `Guest` trait implemented below, and `export!` wires the
//! implementation up as the component's exports.

mod json;

wit_bindgen::generate!({
    world: "text",
    path: "wit",
});

struct Text;

impl Guest for Text {
    fn slugify(text: String) -> String {
        slugify(&text)
    }

    fn word_count(text: String) -> Stats {
        word_count(&text)
    }

    fn wrap(text: String, width: u32) -> String {
        wrap(&text, width as usize)
    }

    fn json_pointer(document: String, pointer: String) -> Result<String, String> {
        json::pointer(&document, &pointer)
    }

    fn find_all(haystack: String, needle: String) -> Vec<u32> {
        find_all(&haystack, &needle)
    }

    fn convert_case(text: String, style: CaseStyle) -> String {
        convert_case(&text, style)
    }
}

export!(Text);

/// Clamps a count to `u32` (WIT `u32` fields); inputs over 4 GiB cannot reach
/// a 32-bit guest anyway.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// ASCII transliteration of the common accented Latin letters, lowercase.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å'
        | 'Ā' | 'Ă' | 'Ą' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'ć' | 'č' | 'Ç' | 'Ć' | 'Č' => "c",
        'ď' | 'đ' | 'ð' | 'Ď' | 'Đ' | 'Ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę'
        | 'Ě' => "e",
        'ğ' | 'Ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' | 'İ' => {
            "i"
        }
        'ł' | 'ľ' | 'ĺ' | 'Ł' | 'Ľ' | 'Ĺ' => "l",
        'ñ' | 'ń' | 'ň' | 'Ñ' | 'Ń' | 'Ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō'
        | 'Ő' => "o",
        'œ' | 'Œ' => "oe",
        'ř' | 'ŕ' | 'Ř' | 'Ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' | 'Ś' | 'Š' | 'Ş' | 'Ș' => "s",
        'ß' | 'ẞ' => "ss",
        'ť' | 'ţ' | 'ț' | 'Ť' | 'Ţ' | 'Ț' => "t",
        'þ' | 'Þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű'
        | 'Ų' => "u",
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
        'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "z",
        _ => return None,
    })
}

fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending_hyphen = false;
    for c in text.chars() {
        let mut buf = [0; 4];
        let piece = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase().encode_utf8(&mut buf)
        } else if let Some(ascii) = transliterate(c) {
            ascii
        } else {
            // Apostrophes vanish ("don't" gives "dont", not "don-t");
            // anything else separates words.
            if c != '\'' && c != '\u{2019}' {
                pending_hyphen = true;
            }
            continue;
        };
        if pending_hyphen && !slug.is_empty() {
            slug.push('-');
        }
        pending_hyphen = false;
        slug.push_str(piece);
    }
    slug
}

fn word_count(text: &str) -> Stats {
    let lines = if text.is_empty() {
        0
    } else {
        text.lines().count()
    };
    Stats {
        words: count(text.split_whitespace().count()),
        lines: count(lines),
        chars: count(text.chars().count()),
        bytes: count(text.len()),
    }
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    // Paragraphs are runs of non-blank lines.
    let mut paragraphs: Vec<Vec<&str>> = vec![];
    let mut current: Vec<&str> = vec![];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else {
            current.extend(line.split_whitespace());
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }

    for (i, words) in paragraphs.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        let mut line_len = 0;
        for (j, word) in words.iter().enumerate() {
            let word_len = word.chars().count();
            if j > 0 {
                if width != 0 && line_len + 1 + word_len > width {
                    out.push('\n');
                    line_len = 0;
                } else {
                    out.push(' ');
                    line_len += 1;
                }
            }
            out.push_str(word);
            line_len += word_len;
        }
    }
    out
}

fn find_all(haystack: &str, needle: &str) -> Vec<u32> {
    if needle.is_empty() {
        return vec![];
    }
    let mut offsets = vec![];
    // Convert byte offsets to char offsets incrementally: matches are found in
    // increasing order, so count chars only over the gap since the last one.
    let mut chars_before = 0usize;
    let mut counted_to = 0usize;
    for (byte_offset, _) in haystack.match_indices(needle) {
        chars_before += haystack[counted_to..byte_offset].chars().count();
        counted_to = byte_offset;
        offsets.push(count(chars_before));
    }
    offsets
}

/// Splits text into words for [`convert_case`]: runs of letters and digits,
/// additionally split at camelCase humps ("parseHTTPResponse" gives "parse",
/// "HTTP", "Response").
fn split_words(text: &str) -> Vec<String> {
    let mut words = vec![];
    for chunk in text.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = chunk.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (prev, cur) = (chars[i - 1], chars[i]);
            let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            let hump = (prev.is_lowercase() || prev.is_numeric()) && cur.is_uppercase();
            let acronym_end = prev.is_uppercase() && cur.is_uppercase() && next_is_lower;
            if hump || acronym_end {
                words.push(chars[start..i].iter().collect());
                start = i;
            }
        }
        if start < chars.len() {
            words.push(chars[start..].iter().collect());
        }
    }
    words
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn convert_case(text: &str, style: CaseStyle) -> String {
    let words = split_words(text);
    let lower = || words.iter().map(|w| w.to_lowercase());
    let join = |parts: Vec<String>, sep: &str| parts.join(sep);
    match style {
        CaseStyle::Lower => join(lower().collect(), " "),
        CaseStyle::Upper => join(words.iter().map(|w| w.to_uppercase()).collect(), " "),
        CaseStyle::Title => join(words.iter().map(|w| capitalise(w)).collect(), " "),
        CaseStyle::Snake => join(lower().collect(), "_"),
        CaseStyle::Kebab => join(lower().collect(), "-"),
        CaseStyle::Constant => join(words.iter().map(|w| w.to_uppercase()).collect(), "_"),
        CaseStyle::Pascal => words.iter().map(|w| capitalise(w)).collect(),
        CaseStyle::Camel => words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == 0 {
                    w.to_lowercase()
                } else {
                    capitalise(w)
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Héllo, Wörld!"), "hello-world");
        assert_eq!(slugify("  --Straße & Co. 2024-- "), "strasse-co-2024");
        assert_eq!(slugify("Don't panic"), "dont-panic");
        assert_eq!(slugify("日本"), "");
    }

    #[test]
    fn counts() {
        let s = word_count("héllo world\nsecond line\n");
        assert_eq!((s.words, s.lines, s.chars, s.bytes), (4, 2, 24, 25));
        let s = word_count("");
        assert_eq!((s.words, s.lines, s.chars, s.bytes), (0, 0, 0, 0));
        let s = word_count("no newline");
        assert_eq!(s.lines, 1);
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            wrap("the quick brown fox jumps", 10),
            "the quick\nbrown fox\njumps"
        );
        assert_eq!(wrap("a\nb\n\n\nc  d", 0), "a b\n\nc d");
        assert_eq!(
            wrap("supercalifragilistic is long", 5),
            "supercalifragilistic\nis\nlong"
        );
        assert_eq!(wrap("", 5), "");
    }

    #[test]
    fn finding() {
        assert_eq!(find_all("aaaa", "aa"), vec![0, 2]);
        assert_eq!(find_all("héllo héllo", "llo"), vec![2, 8]);
        assert_eq!(find_all("abc", ""), Vec::<u32>::new());
    }

    #[test]
    fn cases() {
        let t = "parseHTTPResponse code";
        assert_eq!(
            convert_case(t, CaseStyle::Snake),
            "parse_http_response_code"
        );
        assert_eq!(convert_case(t, CaseStyle::Camel), "parseHttpResponseCode");
        assert_eq!(convert_case(t, CaseStyle::Pascal), "ParseHttpResponseCode");
        assert_eq!(
            convert_case(t, CaseStyle::Kebab),
            "parse-http-response-code"
        );
        assert_eq!(
            convert_case(t, CaseStyle::Constant),
            "PARSE_HTTP_RESPONSE_CODE"
        );
        assert_eq!(
            convert_case("hello_world-again", CaseStyle::Title),
            "Hello World Again"
        );
        assert_eq!(
            convert_case("version2Beta", CaseStyle::Snake),
            "version2_beta"
        );
    }
}
