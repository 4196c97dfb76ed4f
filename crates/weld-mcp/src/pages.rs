//! `tools/list` in pages (MCP's cursor-based pagination).
//!
//! A page holds at most [`PAGE_TOOLS`] tools (`--tools-page-size`) and at
//! most [`MAX_PAGE_BYTES`] bytes of tool definitions: it ends before the
//! tool that would take it over either, and then carries a `nextCursor`,
//! which the client passes back to get the next. A list within both is
//! sent whole, without a `nextCursor`, whatever the request says, so
//! clients that never read a cursor see every tool of such a list. A page
//! always holds at least one tool (a tool alone is within the byte cap:
//! see [`MAX_PAGE_BYTES`]), so the cursors always reach the end. A cursor
//! is the position of the page's first tool in the list (opaque to
//! clients); if the list changes between two pages, the client is also
//! told `notifications/tools/list_changed` and lists again.
//!
//! The catalog holds tools as JSON text; a page's tools are made into
//! JSON values only to be sent, and at most [`PAGES_AT_ONCE`] pages are
//! made at once, so what listing takes beyond the catalog is bounded
//! however many clients list together.

use std::ops::Range;
use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::Tool;
pub use weld_host::catalog::MAX_PAGE_BYTES;
use weld_host::catalog::{ToolSpec, json_len};

use crate::tools::{mcp_tool, write_json, write_listed};

/// The most tools one `tools/list` answer carries: a thousand tools of
/// typical size (a few kilobytes each with their schemas) keep one answer
/// to a few megabytes.
pub const PAGE_TOOLS: u32 = 1000;

/// The most `tools/list` pages made at once: a page sent typed (over HTTP)
/// takes up to about 18 times [`MAX_PAGE_BYTES`] as JSON values while it
/// is made (about 75 MB), so two bound it to about 150 MB; a page written
/// as text (over stdio, see [`crate::spliced`]) takes about its own size.
/// Later requests wait their turn.
pub const PAGES_AT_ONCE: usize = 2;

/// Which part of a list of `len` items to send for `cursor` — at most
/// `size` items, and at most `max_bytes` by `bytes` (the listing bytes of
/// the item at a position) but at least one — and the cursor of the part
/// after it (if any).
///
/// # Errors
///
/// Invalid params for a cursor this server did not hand out (or one past
/// the end of a list that has since shrunk).
pub(crate) fn page(
    len: usize,
    cursor: Option<&str>,
    size: usize,
    max_bytes: u64,
    bytes: impl Fn(usize) -> u64,
) -> Result<(std::ops::Range<usize>, Option<String>), McpError> {
    let start = match cursor {
        None => 0,
        Some(cursor) => match cursor.parse::<usize>() {
            Ok(start) if start <= len => start,
            _ => {
                return Err(McpError::invalid_params(
                    format!(
                        "unknown cursor `{}`: pass back the nextCursor of a previous \
                         tools/list answer, or list again without a cursor",
                        cursor.chars().take(64).collect::<String>()
                    ),
                    None,
                ));
            }
        },
    };
    let most = start.saturating_add(size.max(1)).min(len);
    let mut end = start;
    let mut taken = 0u64;
    while end < most {
        let next = taken.saturating_add(bytes(end));
        if next > max_bytes && end > start {
            break;
        }
        taken = next;
        end += 1;
    }
    let next = (end < len).then(|| end.to_string());
    Ok((start..end, next))
}

/// Everything `tools/list` lists, in order: the built-in tools, the
/// catalog's (held as text), then proxied MCP servers'.
pub(crate) struct Listing<'a> {
    pub(crate) builtin: Vec<&'a Tool>,
    pub(crate) held: &'a [Arc<ToolSpec>],
    pub(crate) proxied: &'a [Tool],
}

/// Where a position of a [`Listing`] is.
enum At<'a> {
    Builtin(&'a Tool),
    Held(&'a ToolSpec),
    Proxied(&'a Tool),
}

impl Listing<'_> {
    pub(crate) fn len(&self) -> usize {
        self.builtin.len() + self.held.len() + self.proxied.len()
    }

    fn at(&self, at: usize) -> At<'_> {
        let held = self.builtin.len();
        let proxied = held + self.held.len();
        if at < held {
            At::Builtin(self.builtin[at])
        } else if at < proxied {
            At::Held(&self.held[at - held])
        } else {
            At::Proxied(&self.proxied[at - proxied])
        }
    }

    /// Bytes of the tool at `at` in a listing.
    pub(crate) fn bytes(&self, at: usize) -> u64 {
        match self.at(at) {
            At::Builtin(tool) | At::Proxied(tool) => json_len(tool),
            At::Held(spec) => spec.listing_bytes(),
        }
    }

    /// The tools at `range` as rmcp's values.
    ///
    /// # Errors
    ///
    /// An internal error when a held schema does not parse.
    pub(crate) fn typed(&self, range: Range<usize>) -> Result<Vec<Tool>, McpError> {
        range
            .map(|at| match self.at(at) {
                At::Builtin(tool) | At::Proxied(tool) => Ok(tool.clone()),
                At::Held(spec) => mcp_tool(spec),
            })
            .collect()
    }

    /// The tools at `range` as one JSON array's text, the held schemas
    /// copied as they are (see [`crate::spliced`]); `None` when that text is
    /// not JSON (the page is scanned whole, no values built), so the page
    /// goes the typed way, whose error names the tool.
    ///
    /// # Errors
    ///
    /// An internal error when an MCP-world component's tool cannot be
    /// turned into rmcp's type.
    pub(crate) fn text(&self, range: Range<usize>) -> Result<Option<Vec<u8>>, McpError> {
        let size = range
            .clone()
            .map(|at| self.bytes(at) as usize + 1)
            .sum::<usize>();
        let mut text = Vec::with_capacity(size + 2);
        text.push(b'[');
        for at in range.clone() {
            if at > range.start {
                text.push(b',');
            }
            match self.at(at) {
                At::Builtin(tool) | At::Proxied(tool) => write_json(tool, &mut text)?,
                At::Held(spec) => write_listed(spec, &mut text)?,
            }
        }
        text.push(b']');
        let json = serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_ok();
        Ok(json.then_some(text))
    }
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn a_list_no_longer_than_a_page_is_sent_whole_without_a_cursor() {
        let (range, next) = page(3, None, 3, 30, |_| 10).expect("page");
        assert_eq!((range, next), (0..3, None));
    }

    #[test]
    fn a_page_ends_before_the_tool_that_would_take_it_over_the_byte_cap() {
        let sizes = [40, 50, 20, 100, 5];
        let bytes = |at: usize| sizes[at];
        let (range, next) = page(5, None, 10, 100, bytes).expect("page");
        assert_eq!((range, next.as_deref()), (0..2, Some("2")));
        let (range, next) = page(5, Some("2"), 10, 100, bytes).expect("page");
        assert_eq!((range, next.as_deref()), (2..3, Some("3")));
        // A tool at the cap fills a page by itself; then the rest.
        let (range, next) = page(5, Some("3"), 10, 100, bytes).expect("page");
        assert_eq!((range, next.as_deref()), (3..4, Some("4")));
        let (range, next) = page(5, Some("4"), 10, 100, bytes).expect("page");
        assert_eq!((range, next), (4..5, None));
    }

    #[test]
    fn a_tool_over_the_byte_cap_still_gets_a_page_so_the_cursors_reach_the_end() {
        let (range, next) = page(2, None, 10, 100, |_| 500).expect("page");
        assert_eq!((range, next.as_deref()), (0..1, Some("1")));
        let (range, next) = page(2, Some("1"), 10, 100, |_| 500).expect("page");
        assert_eq!((range, next), (1..2, None));
    }

    #[test]
    fn pages_follow_their_cursors_to_the_end_of_the_list() {
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let (range, next) = page(7, cursor.as_deref(), 3, u64::MAX, |_| 1).expect("page");
            seen.extend(range);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn a_cursor_this_server_did_not_hand_out_is_invalid_params() {
        for bad in ["x", "-1", "8", ""] {
            let error = page(7, Some(bad), 3, u64::MAX, |_| 1).expect_err(bad);
            assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{bad}");
        }
    }
}
