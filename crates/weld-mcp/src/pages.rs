//! `tools/list` in pages (MCP's cursor-based pagination).
//!
//! A list of at most [`PAGE_TOOLS`] tools is sent whole, without a
//! `nextCursor`, whatever the request says, so clients that never read a
//! cursor see every tool of every list that size or smaller. A longer list
//! is sent in pages of [`PAGE_TOOLS`]: each but the last carries a
//! `nextCursor`, which the client passes back to get the next. A cursor is
//! the position of the page's first tool in the list (opaque to clients);
//! if the list changes between two pages, the client is also told
//! `notifications/tools/list_changed` and lists again.

use rmcp::ErrorData as McpError;

/// The most tools one `tools/list` answer carries: a thousand tools of
/// typical size (a few kilobytes each with their schemas) keep one answer
/// to a few megabytes.
pub const PAGE_TOOLS: u32 = 1000;

/// Which part of a list of `len` items to send for `cursor`, and the
/// cursor of the part after it (if any).
///
/// # Errors
///
/// Invalid params for a cursor this server did not hand out (or one past
/// the end of a list that has since shrunk).
pub(crate) fn page(
    len: usize,
    cursor: Option<&str>,
    size: usize,
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
    let end = start.saturating_add(size.max(1)).min(len);
    let next = (end < len).then(|| end.to_string());
    Ok((start..end, next))
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn a_list_no_longer_than_a_page_is_sent_whole_without_a_cursor() {
        let (range, next) = page(3, None, 3).expect("page");
        assert_eq!((range, next), (0..3, None));
    }

    #[test]
    fn pages_follow_their_cursors_to_the_end_of_the_list() {
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let (range, next) = page(7, cursor.as_deref(), 3).expect("page");
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
            let error = page(7, Some(bad), 3).expect_err(bad);
            assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{bad}");
        }
    }
}
