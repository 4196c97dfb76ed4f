//! What weld trusts on disk: state and cache directories no other user can
//! change, and compiled artefacts loaded only when weld wrote them (their
//! MAC under the state directory's key checks), never through a link.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Where the compile cache keeps the artefact of component file `name`.
fn artefact(dirs: &Dirs, name: &str) -> PathBuf {
    let bytes = std::fs::read(component(name)).expect("read component");
    let digest = weld_store::Digest::of(&bytes);
    let engines: Vec<PathBuf> = std::fs::read_dir(dirs.cache.join("compiled"))
        .expect("compiled/")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(engines.len(), 1, "one engine: {engines:?}");
    engines[0].join(format!("{}.cwasm", digest.hex()))
}

/// `weld call hostile_echo`, which loads every installed component.
async fn echo(dirs: &Dirs, text: &str) -> std::process::Output {
    let arguments = serde_json::json!({ "text": text }).to_string();
    dirs.run(&["call", "hostile_echo", &arguments]).await
}

fn echoed(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    result["structuredContent"]["result"].clone()
}

#[tokio::test]
async fn a_state_directory_others_can_write_is_refused_with_the_fix_and_left_alone() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(&dirs.state).expect("mkdir");
    chmod(&dirs.state, 0o777);
    let output = dirs.run(&["list"]).await;
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&dirs.state.display().to_string())
            && message.contains("can be written by every user")
            && message.contains("chmod go-w"),
        "{message}"
    );
    let mode = std::fs::metadata(&dirs.state)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o777, "not repaired behind the user's back");
    assert!(!dirs.state.join("index.json").exists());
}

#[tokio::test]
async fn a_cache_directory_others_can_write_is_refused_with_the_fix() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.cache.join("compiled")).expect("mkdir");
    chmod(&dirs.cache.join("compiled"), 0o775);
    let output = dirs
        .run(&["add", &component("add").display().to_string()])
        .await;
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("compile cache")
            && message.contains("its group")
            && message.contains("chmod go-w"),
        "{message}"
    );
    assert!(!dirs.state.join("index.json").exists(), "nothing installed");
}

#[tokio::test]
async fn another_components_artefact_in_the_cache_is_not_run_and_the_component_is_compiled_again() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    weld_ok(&dirs, &["add", &component("add").display().to_string()]).await;
    let hostile = artefact(&dirs, "hostile");
    let add = artefact(&dirs, "add");
    // A valid artefact weld wrote itself, under the other component's name:
    // loading it would serve `add`'s code as `hostile`.
    std::fs::copy(&add, &hostile).expect("swap");
    let output = echo(&dirs, "still hostile").await;
    assert_eq!(echoed(&output), "still hostile");
    assert!(
        stderr(&output).contains("compiled artefact not loaded: its MAC does not match"),
        "{}",
        stderr(&output)
    );
    assert_ne!(
        std::fs::read(&hostile).expect("read"),
        std::fs::read(&add).expect("read"),
        "replaced by a fresh artefact"
    );

    // One changed byte, anywhere, is as bad.
    let mut bytes = std::fs::read(&hostile).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&hostile, &bytes).expect("tamper");
    let output = echo(&dirs, "again").await;
    assert_eq!(echoed(&output), "again");
    assert!(
        stderr(&output).contains("MAC does not match"),
        "{}",
        stderr(&output)
    );

    // A fresh start with the recompiled artefact loads it quietly.
    let output = echo(&dirs, "quiet").await;
    assert_eq!(echoed(&output), "quiet");
    assert!(
        !stderr(&output).contains("not loaded"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_symlinked_artefact_is_not_followed_even_to_a_valid_one() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let path = artefact(&dirs, "hostile");
    let elsewhere = dirs.cache.parent().expect("tmp").join("elsewhere.cwasm");
    std::fs::rename(&path, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &path).expect("symlink");
    let output = echo(&dirs, "linked").await;
    assert_eq!(echoed(&output), "linked");
    assert!(
        stderr(&output).contains("symbolic link"),
        "{}",
        stderr(&output)
    );
    let meta = std::fs::symlink_metadata(&path).expect("meta");
    assert!(
        meta.file_type().is_file(),
        "the link was replaced, not followed"
    );
}
