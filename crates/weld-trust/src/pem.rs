//! PEM (RFC 7468) reading and writing: labelled base64 blocks. Written by
//! hand because the blocks weld reads come from cosign (Go), openssl and
//! people, and errors should name the label that was expected.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::TrustError;

/// One block: its label and its decoded bytes.
pub(crate) type Block = (String, Vec<u8>);

/// Every PEM block in `text`, in order.
pub(crate) fn blocks(text: &str, what: &'static str) -> Result<Vec<Block>, TrustError> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some((label, body)) = open.as_mut() {
            if let Some(end) = line
                .strip_prefix("-----END ")
                .and_then(|rest| rest.strip_suffix("-----"))
            {
                if end != label {
                    return Err(pem_error(
                        what,
                        format!("block \"{label}\" ends with \"END {end}\""),
                    ));
                }
                let bytes = STANDARD
                    .decode(body.as_bytes())
                    .map_err(|source| TrustError::base64(format!("the {what} PEM body"), source))?;
                out.push((std::mem::take(label), bytes));
                open = None;
            } else if line.contains(':') {
                return Err(pem_error(
                    what,
                    "the block has headers (an encrypted legacy key?); \
                     weld reads only unencrypted PEM"
                        .to_owned(),
                ));
            } else {
                body.push_str(line);
            }
        } else if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            open = Some((label.to_owned(), String::new()));
        }
    }
    if let Some((label, _)) = open {
        return Err(pem_error(
            what,
            format!("block \"{label}\" has no END line"),
        ));
    }
    Ok(out)
}

/// The one block of `text`, whose label must be one of `labels`.
pub(crate) fn single(text: &str, what: &'static str, labels: &[&str]) -> Result<Block, TrustError> {
    let mut found = blocks(text, what)?;
    let expected = labels
        .iter()
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    match found.len() {
        0 => Err(pem_error(
            what,
            format!("no PEM block found (expected {expected})"),
        )),
        1 => {
            let block = found.remove(0);
            if labels.contains(&block.0.as_str()) {
                Ok(block)
            } else {
                Err(pem_error(
                    what,
                    format!("found a \"{}\" block, expected {expected}", block.0),
                ))
            }
        }
        n => Err(pem_error(
            what,
            format!("found {n} PEM blocks, expected one"),
        )),
    }
}

/// `bytes` as a PEM block with 64-column lines.
pub(crate) fn encode(label: &str, bytes: &[u8]) -> String {
    let body = STANDARD.encode(bytes);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_error(what: &'static str, reason: String) -> TrustError {
    TrustError::Pem { what, reason }
}
