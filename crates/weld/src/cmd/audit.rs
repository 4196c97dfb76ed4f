//! `weld audit`: the audit log, filtered, one record per line.

use std::process::ExitCode;

use anyhow::{Result, bail};
use weld_host::AuditRecord;
use weld_store::Store;

use crate::cli;

/// `weld audit`.
pub(super) fn show(store: &Store, args: &cli::AuditArgs) -> Result<ExitCode> {
    // A name that is no outcome would match nothing and print nothing:
    // say so, with the names there are.
    let outcome = args.outcome.as_deref();
    if let Some(wanted) = outcome
        && !weld_host::Outcome::ALL.iter().any(|o| o.as_str() == wanted)
    {
        let names: Vec<&str> = weld_host::Outcome::ALL.iter().map(|o| o.as_str()).collect();
        anyhow::bail!(
            "`{wanted}` is not an outcome; the outcomes are: {}",
            names.join(", ")
        );
    }
    if let Some(since) = &args.since {
        check_since(since)?;
    }
    let path = store.root().join("audit.jsonl");
    let text = weld_host::audit::read_log(&path)?.unwrap_or_default();
    let mut unreadable = 0usize;
    let records: Vec<AuditRecord> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<AuditRecord>(l) {
            Ok(record) => Some(record),
            Err(_) => {
                unreadable += 1;
                None
            }
        })
        .filter(|r| args.tool.as_deref().is_none_or(|t| r.tool == t))
        .filter(|r| args.component.as_deref().is_none_or(|c| r.component == c))
        .filter(|r| outcome.is_none_or(|o| r.outcome == o))
        .filter(|r| args.since.as_deref().is_none_or(|s| r.time.as_str() >= s))
        .collect();
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} line(s) of {} are not audit records and were skipped",
            path.display()
        );
    }
    let shown = &records[records.len().saturating_sub(args.limit)..];
    for record in shown {
        if args.json {
            outln!("{}", serde_json::to_string(record)?);
        } else {
            // A policy change ran no sandbox: its change says more than
            // zero time and memory would.
            let measured = match &record.change {
                Some(change) => format!("{}: {}", one_line(&record.component), one_line(change)),
                None => format!("{:>9} us {:>9} B", record.duration_us, record.peak_memory),
            };
            outln!(
                "{}  {:<32} {:<18} {measured}{}{}{}",
                one_line(&record.time),
                one_line(&record.tool),
                one_line(&record.outcome),
                record
                    .fuel_used
                    .map(|f| format!(" {f:>12} fuel"))
                    .unwrap_or_default(),
                denied_summary(record),
                record
                    .error
                    .as_deref()
                    .map(|e| format!("  {}", one_line(e)))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How many network and storage decisions of a call were denials, for the
/// text view (`--json` has each one).
fn denied_summary(record: &AuditRecord) -> String {
    let network = record.network.iter().filter(|d| !d.allowed).count();
    let storage = record.storage_denied.len() as u64 + record.storage_denied_dropped;
    let mut parts = Vec::new();
    if network > 0 || record.network_dropped > 0 {
        let more = if record.network_dropped > 0 { "+" } else { "" };
        // The first denial, by target and reason: usually the one the
        // tool's error is about.
        let first = (record.network.iter().find(|d| !d.allowed))
            .map(|d| format!(" (first: {})", denied_target(d)))
            .unwrap_or_default();
        parts.push(format!("{network}{more} network{first}"));
    }
    if storage > 0 {
        // The first refused path, and what the tool got for it.
        let first = (record.storage_denied.first())
            .map(|d| {
                format!(
                    " (first: {} {}: {})",
                    one_line(&d.op),
                    one_line(&d.path),
                    one_line(&d.error)
                )
            })
            .unwrap_or_default();
        parts.push(format!("{storage} storage{first}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  denied: {}", parts.join(", "))
    }
}

/// `https api.example.com:443: REASON`, for a denied network decision.
fn denied_target(d: &weld_host::audit::NetworkDecision) -> String {
    let at = match (&d.addr, d.kind.as_str()) {
        (_, "lookup") => one_line(&d.host),
        (Some(addr), _) if *addr != d.host => {
            format!("{}:{} ({})", one_line(&d.host), d.port, one_line(addr))
        }
        _ if d.host.contains(':') => format!("[{}]:{}", one_line(&d.host), d.port),
        _ => format!("{}:{}", one_line(&d.host), d.port),
    };
    let why = d
        .rule
        .as_deref()
        .map_or_else(|| "no rule grants it".to_owned(), one_line);
    format!("{} {at}: {why}", one_line(&d.kind))
}

/// `text` for one line of a terminal: whitespace runs (newlines included)
/// become one space, and control and bidirectional-formatting characters are
/// escaped, since changes and errors carry text a client or tool chose and
/// could otherwise rewrite what the operator sees.
pub(super) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() && (c.is_ascii() || c == '\u{85}') {
            space = true;
            continue;
        }
        if std::mem::take(&mut space) {
            out.push(' ');
        }
        if c.is_control()
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Records carry UTC times as `YYYY-MM-DDTHH:MM:SS.mmmZ` and are compared as
/// text, so `--since` must be a prefix of that shape (in UTC) or the filter
/// would silently mean something else.
fn check_since(since: &str) -> Result<()> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let bytes = since.trim_end_matches('Z').as_bytes();
    let fits = bytes.len() >= 10
        && bytes.len() <= shape.len()
        && bytes.iter().zip(shape).all(|(b, s)| match s {
            b'd' => b.is_ascii_digit(),
            other => b == other,
        });
    if !fits {
        bail!("--since takes a UTC time like 2026-11-21 or 2026-11-21T10:00:00Z (got `{since}`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn audit_text_is_one_line_with_control_and_bidi_characters_escaped() {
        assert_eq!(
            one_line("Not granted.\n\n  weld grant x\tnetwork h"),
            "Not granted. weld grant x network h"
        );
        assert_eq!(
            one_line("fs:///a\u{1b}[2J\u{202E}b/**"),
            "fs:///a\\u{1b}[2J\\u{202e}b/**"
        );
        assert_eq!(one_line("  grant env LANG  "), "grant env LANG");
    }
}
