//! `weld secret`: values a policy can pass to a tool as environment
//! variables, kept 0600 in the state directory and never shown back.

use std::process::ExitCode;

use anyhow::{Result, bail};
use weld_store::Store;

use crate::cli::SecretCommand;

/// `weld secret set`, `weld secret remove` and `weld secret list`.
pub(super) fn run(store: &Store, command: SecretCommand) -> Result<ExitCode> {
    match command {
        SecretCommand::Set { name, key } => {
            let value = read_secret_value(&key)?;
            store.set_secret(&name, &key, Some(&value))?;
            outln!(
                "secret `{key}` of `{name}` set ({} characters); a running weld applies it within a second",
                value.chars().count()
            );
        }
        SecretCommand::Remove { name, key } => {
            store.set_secret(&name, &key, None)?;
            outln!("secret `{key}` of `{name}` removed");
        }
        SecretCommand::List { name } => {
            for (key, value) in store.secrets(&name)? {
                outln!("{key}  ({} characters)", value.chars().count());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The value, from stdin (never from the command line, where it would land
/// in shell history and process listings): one line typed on a terminal;
/// all of a pipe or file (a PEM key, say), less one final line break.
fn read_secret_value(key: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Read, Write};
    let mut value = String::new();
    if std::io::stdin().is_terminal() {
        eprint!("value for {key} (one line; pipe a file for more): ");
        std::io::stderr().flush()?;
        std::io::stdin().lock().read_line(&mut value)?;
    } else {
        std::io::stdin().lock().read_to_string(&mut value)?;
    }
    let value = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value)
        .to_string();
    if value.is_empty() {
        bail!("no value given on stdin (e.g. `printf %s \"$TOKEN\" | weld secret set TOOL {key}`)");
    }
    Ok(value)
}
