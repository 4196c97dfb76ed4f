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

/// One line from stdin (never from the command line, where it would land in
/// shell history and process listings).
fn read_secret_value(key: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        eprint!("value for {key} (input is read from stdin, one line): ");
        std::io::stderr().flush()?;
    }
    let mut value = String::new();
    std::io::stdin().lock().read_line(&mut value)?;
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no value given on stdin (e.g. `printf %s \"$TOKEN\" | weld secret set TOOL {key}`)");
    }
    Ok(value)
}
