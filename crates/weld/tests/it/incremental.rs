//! The incremental compile cache through the real binary and its compiler
//! process: a second component sharing code with a first reuses the first's
//! compiled functions (as the compiler process counts them), a damaged
//! store never fails an install, and `--incremental-cache-mib 0` turns it
//! off.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::common::{Dirs, component};

/// `text.wasm` with a custom section appended: another digest, the same
/// code (as two tools built by one toolchain share an interpreter).
fn variant(dir: &Path, tag: &str) -> PathBuf {
    let mut wasm = std::fs::read(component("text")).expect("text.wasm");
    let name = b"weld-test";
    let mut section = vec![u8::try_from(name.len()).expect("short")];
    section.extend_from_slice(name);
    section.extend_from_slice(tag.as_bytes());
    wasm.push(0);
    wasm.push(u8::try_from(section.len()).expect("short"));
    wasm.extend_from_slice(&section);
    let path = dir.join(format!("text-{tag}.wasm"));
    std::fs::write(&path, wasm).expect("write");
    path
}

/// `weld add PATH --name NAME` with the runtime's log on, as it went.
async fn add(dirs: &Dirs, path: &Path, name: &str, more: &[&str]) -> Output {
    let output = dirs
        .weld()
        .env("WELD_LOG", "weld_runtime=info,warn")
        .arg("add")
        .arg(path)
        .args(["--name", name])
        .args(more)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run weld");
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The functions reused and compiled, as logged for the compilation.
fn counts(output: &Output) -> (u64, u64) {
    let log = stderr(output);
    let count = |name: &str| {
        log.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in the log:\n{log}"))
    };
    (count("reused"), count("compiled"))
}

fn store_file(dirs: &Dirs) -> Option<PathBuf> {
    std::fs::read_dir(dirs.cache.join("compiled"))
        .ok()?
        .flatten()
        .map(|engine| engine.path().join("incremental.store"))
        .find(|path| path.exists())
}

/// The tool answers from the component installed as `name`.
async fn slugifies(dirs: &Dirs, name: &str) {
    let output = dirs
        .run(&[
            "call",
            &format!("{name}_slugify"),
            r#"{"text": "Hello, World"}"#,
        ])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(result["structuredContent"]["result"], "hello-world");
}

#[tokio::test]
async fn a_second_component_sharing_code_with_a_first_reuses_its_compiled_functions() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (reused_first, compiled_first) =
        counts(&add(&dirs, &variant(tmp.path(), "a"), "first", &[]).await);
    let (reused, compiled) = counts(&add(&dirs, &variant(tmp.path(), "b"), "second", &[]).await);
    // All but a few functions (Wasmtime does not give every one the same
    // key each time) come from the first component's compilation.
    assert!(
        compiled * 5 < compiled_first && reused > reused_first + compiled_first / 2,
        "first: {reused_first} reused, {compiled_first} compiled; second: {reused} reused, \
         {compiled} compiled"
    );
    slugifies(&dirs, "second").await;
}

#[tokio::test]
async fn a_damaged_incremental_store_never_fails_an_install() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    add(&dirs, &variant(tmp.path(), "a"), "first", &[]).await;
    let store = store_file(&dirs).expect("the store was written");
    let mut bytes = std::fs::read(&store).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle..].iter_mut().for_each(|b| *b = 0x5a);
    std::fs::write(&store, &bytes).expect("damage");

    let second = add(&dirs, &variant(tmp.path(), "b"), "second", &[]).await;
    assert!(
        stderr(&second).contains("incremental compile cache"),
        "the damage is reported: {}",
        stderr(&second)
    );
    slugifies(&dirs, "second").await;
    // Repaired by that compilation: the next one reads it without a word.
    let third = add(&dirs, &variant(tmp.path(), "c"), "third", &[]).await;
    assert!(
        !stderr(&third).contains("WARN"),
        "no more warnings: {}",
        stderr(&third)
    );
    let (reused, compiled) = counts(&third);
    assert!(
        compiled * 5 < reused,
        "{reused} reused, {compiled} compiled"
    );
}

#[tokio::test]
async fn the_incremental_cache_can_be_turned_off() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let output = add(
        &dirs,
        &variant(tmp.path(), "a"),
        "first",
        &["--incremental-cache-mib", "0"],
    )
    .await;
    assert!(!stderr(&output).contains("reused="), "{}", stderr(&output));
    assert_eq!(store_file(&dirs), None);
    slugifies(&dirs, "first").await;
}

#[tokio::test]
async fn cache_verify_reports_a_tampered_incremental_record_and_gc_drops_it() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    add(&dirs, &variant(tmp.path(), "a"), "first", &[]).await;
    let verified = dirs.run(&["cache", "verify"]).await;
    let text = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{text}");
    assert!(
        text.contains("ok   ") && text.contains("incremental.store"),
        "{text}"
    );

    // One byte of the first record's code changed.
    let store = store_file(&dirs).expect("the store");
    let mut bytes = std::fs::read(&store).expect("read");
    bytes[8 + 40] ^= 1;
    std::fs::write(&store, &bytes).expect("tamper");
    let verified = dirs.run(&["cache", "verify"]).await;
    let text = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(!verified.status.success(), "{text}");
    assert!(
        text.contains("BAD") && text.contains("1 fail their check"),
        "{text}"
    );

    let gc = dirs.run(&["cache", "gc"]).await;
    let text = String::from_utf8_lossy(&gc.stdout).into_owned();
    assert!(gc.status.success() && text.contains("1 dropped"), "{text}");
    let verified = dirs.run(&["cache", "verify"]).await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

#[tokio::test]
async fn cache_gc_deletes_what_an_interrupted_write_left_in_the_compile_cache() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    add(&dirs, &variant(tmp.path(), "a"), "first", &[]).await;
    let store = store_file(&dirs).expect("the store");
    let engine_dir = store.parent().expect("the engine's directory");
    // What a write stopped before its rename leaves: a temporary file, here
    // two hours old.
    let leftover = engine_dir.join(".tmpAbC123");
    std::fs::write(&leftover, b"half an artefact").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
        })
        .expect("age it");

    let gc = dirs.run(&["cache", "gc"]).await;
    let text = String::from_utf8_lossy(&gc.stdout).into_owned();
    assert!(gc.status.success(), "{text}");
    assert!(
        text.contains(&format!("deleted {}", leftover.display())),
        "{text}"
    );
    assert!(!leftover.exists());
    // What was installed still runs from the cache.
    let listed = dirs.run(&["cache", "verify"]).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
}
