//! `weld new NAME --lang LANG`: a tool project that builds to a component
//! with one command. The templates are files under `crates/weld/templates/`
//! compiled into the binary, so `weld new` needs nothing but itself; in them
//! `{{name}}` is the tool's name and `{{name_snake}}` the same with
//! underscores (Rust's artefact name, C's identifiers).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::{Lang, NewArgs};

/// One file of a project: where it goes (placeholders allowed), its text,
/// and whether it is a script to run.
struct Template {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

const fn file(path: &'static str, text: &'static str) -> Template {
    Template {
        path,
        text,
        executable: false,
    }
}

const fn script(path: &'static str, text: &'static str) -> Template {
    Template {
        path,
        text,
        executable: true,
    }
}

/// What every language's project has: the contract, the proposed policy,
/// and the test that calls the tool through `weld call`.
const COMMON: &[Template] = &[
    file(
        "wit/{{name}}.wit",
        include_str!("../../templates/common/tool.wit"),
    ),
    file(
        "{{name}}.policy.yaml",
        include_str!("../../templates/common/tool.policy.yaml"),
    ),
    script("test.sh", include_str!("../../templates/common/test.sh")),
];

const RUST: &[Template] = &[
    file(
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.in"),
    ),
    file("src/lib.rs", include_str!("../../templates/rust/lib.rs")),
    file(".gitignore", "/target\n/Cargo.lock\n/{{name}}.wasm\n"),
    script("build.sh", include_str!("../../templates/rust/build.sh")),
];

/// An MCP server component (`--mcp`): wasmcp's `mcp-v20251125` world, with
/// the WIT it needs copied from what weld's runtime builds its bindings
/// from (crates/weld-runtime/wit/, Apache-2.0: the licence goes along).
const RUST_MCP: &[Template] = &[
    file(
        "wit/{{name}}.wit",
        include_str!("../../templates/rust-mcp/world.wit"),
    ),
    file(
        "wit/deps/mcp-v20251125/mcp.wit",
        include_str!("../../../weld-runtime/wit/deps/mcp-v20251125/mcp.wit"),
    ),
    file(
        "wit/deps/mcp-v20251125/server.wit",
        include_str!("../../../weld-runtime/wit/deps/mcp-v20251125/server.wit"),
    ),
    file(
        "wit/deps/auth/jwt.wit",
        include_str!("../../../weld-runtime/wit/deps/auth/jwt.wit"),
    ),
    file(
        "wit/deps/auth/oauth.wit",
        include_str!("../../../weld-runtime/wit/deps/auth/oauth.wit"),
    ),
    file(
        "wit/deps/io/error.wit",
        include_str!("../../../weld-runtime/wit/deps/io/error.wit"),
    ),
    file(
        "wit/deps/io/poll.wit",
        include_str!("../../../weld-runtime/wit/deps/io/poll.wit"),
    ),
    file(
        "wit/deps/io/streams.wit",
        include_str!("../../../weld-runtime/wit/deps/io/streams.wit"),
    ),
    file(
        "wit/deps/io/world.wit",
        include_str!("../../../weld-runtime/wit/deps/io/world.wit"),
    ),
    file(
        "wit/deps/LICENSE-wasmcp",
        include_str!("../../../weld-runtime/wit/LICENSE-wasmcp"),
    ),
    file(
        "{{name}}.policy.yaml",
        include_str!("../../templates/common/tool.policy.yaml"),
    ),
    file(
        "Cargo.toml",
        include_str!("../../templates/rust-mcp/Cargo.toml.in"),
    ),
    file(
        "src/lib.rs",
        include_str!("../../templates/rust-mcp/lib.rs"),
    ),
    file(".gitignore", "/target\n/Cargo.lock\n/{{name}}.wasm\n"),
    script(
        "build.sh",
        include_str!("../../templates/rust-mcp/build.sh"),
    ),
    script("test.sh", include_str!("../../templates/rust-mcp/test.sh")),
];

const PYTHON: &[Template] = &[
    file("app.py", include_str!("../../templates/python/app.py")),
    file(".gitignore", "/{{name}}.wasm\n__pycache__/\n"),
    script("build.sh", include_str!("../../templates/python/build.sh")),
];

const JS: &[Template] = &[
    file("{{name}}.js", include_str!("../../templates/js/tool.js")),
    file(".gitignore", "/{{name}}.wasm\n"),
    script("build.sh", include_str!("../../templates/js/build.sh")),
];

const C: &[Template] = &[
    file("{{name}}.c", include_str!("../../templates/c/tool.c")),
    file(".gitignore", "/{{name}}.wasm\n/gen/\n"),
    script("build.sh", include_str!("../../templates/c/build.sh")),
];

/// What to install before `./build.sh`, said after the project is written.
fn needs(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rustup target add wasm32-wasip2",
        Lang::Python => "pip install componentize-py",
        Lang::Js => "npm install -g @bytecodealliance/componentize-js",
        Lang::C => {
            "clang (19 or newer) with wasi-libc, wit-bindgen (cargo install wit-bindgen-cli) \
             and wasm-component-ld (cargo install wasm-component-ld); see build.sh"
        }
    }
}

fn templates(lang: Lang, mcp: bool) -> Box<dyn Iterator<Item = &'static Template>> {
    if mcp {
        return Box::new(RUST_MCP.iter());
    }
    let own = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
        Lang::C => C,
    };
    Box::new(COMMON.iter().chain(own))
}

/// `weld new`.
pub(super) fn new(args: &NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    if args.mcp && args.lang != Lang::Rust {
        bail!(
            "weld new --mcp writes Rust only for now; for Python or TypeScript, wasmcp's own \
             templates build components of the same world, which weld serves unchanged \
             (docs/mcp-components.md)"
        );
    }
    let dir = Path::new(&args.name);
    // create_dir, not create_dir_all: it fails when the directory exists,
    // so nothing of the person's is ever overwritten.
    std::fs::create_dir(dir).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
            "{} already exists; weld new writes only into a new directory (pick another name, or move it away)",
            dir.display()
        ),
        _ => anyhow::Error::new(error).context(format!("creating {}", dir.display())),
    })?;
    if let Err(error) = write_project(dir, &args.name, args.lang, args.mcp) {
        // Only what this command created goes: the directory was new.
        let _ = std::fs::remove_dir_all(dir);
        return Err(error);
    }
    let name = &args.name;
    let kind = if args.mcp {
        "MCP server component"
    } else {
        "tool"
    };
    outln!(
        "created {name}/, a {} {kind} project:",
        format!("{:?}", args.lang).to_lowercase()
    );
    for template in templates(args.lang, args.mcp) {
        if !template.path.starts_with("wit/deps/") {
            outln!("  {name}/{}", fill(template.path, name));
        }
    }
    outln!("\nnext:");
    outln!("  cd {name}");
    outln!(
        "  ./build.sh              # -> {name}.wasm (needs {})",
        needs(args.lang)
    );
    if args.mcp {
        outln!("  ./test.sh               # what weld sees it offer, and greet through weld call");
    } else {
        outln!("  ./test.sh               # calls {name}_greet through weld call");
    }
    outln!("  weld add {name}.wasm    # install it; it proposes {name}.policy.yaml");
    Ok(ExitCode::SUCCESS)
}

fn write_project(dir: &Path, name: &str, lang: Lang, mcp: bool) -> Result<()> {
    for template in templates(lang, mcp) {
        let path = dir.join(fill(template.path, name));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, fill(template.text, name))
            .with_context(|| format!("writing {}", path.display()))?;
        if template.executable {
            make_executable(&path)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<()> {
    Ok(())
}

fn fill(text: &str, name: &str) -> String {
    text.replace("{{name_snake}}", &name.replace('-', "_"))
        .replace("{{name}}", name)
}

/// The name becomes a directory, a WIT world and package, a Rust crate, C
/// identifiers and the component's name: WIT's kebab-case (words of
/// lowercase letters and digits, each starting with a letter) is what all
/// of them accept.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !valid {
        bail!(
            "`{name}` cannot name a tool: use lowercase letters, digits and single hyphens, \
             each word starting with a letter (such as `notes` or `csv-tools`)"
        );
    }
    if WIT_KEYWORDS.contains(&name) {
        bail!("`{name}` is a WIT keyword and cannot name a world; pick another name");
    }
    Ok(())
}

/// Words WIT reserves; a world cannot be named after one.
const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s8",
    "s16",
    "s32",
    "s64",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u8",
    "u16",
    "u32",
    "u64",
    "use",
    "variant",
    "with",
    "world",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_must_be_wit_kebab_case() {
        for good in ["notes", "csv-tools", "tool2", "a-b2-c"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Notes",
            "csv_tools",
            "2tool",
            "a--b",
            "-a",
            "a-",
            "a-2b",
            "../x",
            "a b",
            "world",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        let projects = [Lang::Rust, Lang::Python, Lang::Js, Lang::C]
            .map(|lang| (lang, false))
            .into_iter()
            .chain([(Lang::Rust, true)]);
        for (lang, mcp) in projects {
            for template in templates(lang, mcp) {
                for text in [template.path, template.text] {
                    let filled = fill(text, "my-tool");
                    assert!(
                        !filled.contains("{{"),
                        "{lang:?} {}: {filled}",
                        template.path
                    );
                }
            }
        }
    }

    #[test]
    fn the_snake_case_name_replaces_hyphens() {
        assert_eq!(
            fill("{{name}}/{{name_snake}}", "my-tool"),
            "my-tool/my_tool"
        );
    }
}
