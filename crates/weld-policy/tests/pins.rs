//! Pins: a storage rule means what it resolved to when it was granted, and
//! compiling from pins never resolves a path again.

use std::path::{Path, PathBuf};

use weld_policy::{ErrorKind, Pinned, Pins, Policy, RealFileSystem};

fn policy(storage: &str) -> Policy {
    Policy::parse_yaml(&format!(
        "version: \"1.0\"\npermissions:\n  storage:\n{storage}"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn allow(uri: &str, access: &str) -> String {
    format!("    allow:\n      - uri: \"{uri}\"\n        access: [{access}]\n")
}

fn root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

fn pin(p: &Policy, base: Option<&Path>) -> Pins {
    p.pin(base, &Pins::default(), &RealFileSystem).unwrap().1
}

#[test]
fn a_relative_rule_is_pinned_to_its_base_and_compiles_the_same_from_anywhere() {
    let (_dir, root) = root();
    std::fs::create_dir(root.join("data")).unwrap();
    let p = policy(&allow("fs://./data/**", "read"));
    let pins = pin(&p, Some(&root));
    let only = &pins.as_slice()[0];
    assert_eq!(only.real, root.join("data"));
    assert_eq!(only.base.as_deref(), Some(root.as_path()));
    assert!(matches!(only.pinned, Pinned::Dir(_)));
    // No base directory at all: the pin alone says where the rule points.
    let grant = p.compile_pinned(&pins, &RealFileSystem).unwrap();
    assert_eq!(grant.storage[0].host_path, root.join("data"));
    assert_eq!(
        grant.storage[0].guest_path,
        root.join("data").display().to_string()
    );
}

#[test]
fn a_relative_rule_without_a_base_directory_is_refused_naming_the_option() {
    let p = policy(&allow("fs://./data/**", "read"));
    let error = p.pin(None, &Pins::default(), &RealFileSystem).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidValue);
    assert!(error.to_string().contains("--base-dir"), "{error}");
}

#[test]
fn a_rule_without_a_pin_does_not_compile() {
    let (_dir, root) = root();
    let p = policy(&allow(&format!("fs://{}/**", root.display()), "read"));
    let error = p
        .compile_pinned(&Pins::default(), &RealFileSystem)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotPinned);
    assert!(error.to_string().contains("grant it again"), "{error}");
}

#[test]
fn a_symlink_planted_after_the_grant_is_not_followed() {
    let (_dir, root) = root();
    std::fs::create_dir_all(root.join("work/docs")).unwrap();
    std::fs::create_dir_all(root.join("home/.ssh")).unwrap();
    let p = policy(&allow(
        &format!("fs://{}/work/docs/**", root.display()),
        "read",
    ));
    let pins = pin(&p, None);
    assert!(!pins.as_slice()[0].through_symlink());
    std::fs::remove_dir(root.join("work/docs")).unwrap();
    std::os::unix::fs::symlink("../home/.ssh", root.join("work/docs")).unwrap();
    let error = p.compile_pinned(&pins, &RealFileSystem).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Moved);
    assert!(
        error.to_string().contains("leads through a symlink"),
        "{error}"
    );
    // Resolving live would have followed it: that is what pins prevent.
    let live = p.compile(Path::new("/")).unwrap();
    assert_eq!(live.storage[0].host_path, root.join("home/.ssh"));
}

#[test]
fn a_directory_replaced_by_another_at_the_same_path_is_refused() {
    let (_dir, root) = root();
    std::fs::create_dir(root.join("data")).unwrap();
    let p = policy(&allow(&format!("fs://{}/data/**", root.display()), "read"));
    let pins = pin(&p, None);
    std::fs::rename(root.join("data"), root.join("old")).unwrap();
    std::fs::create_dir(root.join("data")).unwrap();
    let error = p.compile_pinned(&pins, &RealFileSystem).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Moved);
    assert!(
        error.to_string().contains("is now another directory"),
        "{error}"
    );
}

#[test]
fn a_granted_file_saved_by_an_editor_stays_granted() {
    let (_dir, root) = root();
    std::fs::write(root.join("notes.md"), "one").unwrap();
    let p = policy(&allow(&format!("fs://{}/notes.md", root.display()), "read"));
    let pins = pin(&p, None);
    assert!(matches!(pins.as_slice()[0].pinned, Pinned::File(_)));
    // Editors write a new file and rename it over the old one.
    std::fs::write(root.join("notes.md.tmp"), "two").unwrap();
    std::fs::rename(root.join("notes.md.tmp"), root.join("notes.md")).unwrap();
    let grant = p.compile_pinned(&pins, &RealFileSystem).unwrap();
    assert_eq!(grant.storage[0].host_path, root.join("notes.md"));
}

#[test]
fn a_path_through_a_symlink_is_pinned_to_its_real_path_and_says_so() {
    let (_dir, root) = root();
    std::fs::create_dir_all(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    let p = policy(&allow(&format!("fs://{}/link/**", root.display()), "read"));
    let pins = pin(&p, None);
    let only = &pins.as_slice()[0];
    assert!(only.through_symlink());
    assert_eq!(only.real, root.join("real"));
    assert!(
        only.describe().contains(&format!(
            "leads through a symlink to {}",
            root.join("real").display()
        )),
        "{}",
        only.describe()
    );
    // The symlink re-pointed later changes nothing: the real directory is
    // what was granted.
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::remove_file(root.join("link")).unwrap();
    std::os::unix::fs::symlink(root.join("other"), root.join("link")).unwrap();
    let grant = p.compile_pinned(&pins, &RealFileSystem).unwrap();
    assert_eq!(grant.storage[0].host_path, root.join("real"));
}

#[test]
fn kept_pins_are_not_resolved_again_and_new_rules_are() {
    let (_dir, root) = root();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    let first = policy(&allow(&format!("fs://{}/a/**", root.display()), "read"));
    let pins = pin(&first, None);
    let second = first
        .grant_storage(
            &format!("fs://{}/b/**", root.display()),
            &[weld_policy::Access::Read],
        )
        .unwrap();
    let (_, both) = second.pin(None, &pins, &RealFileSystem).unwrap();
    assert_eq!(both.as_slice().len(), 2);
    assert_eq!(both.as_slice()[0], pins.as_slice()[0]);
    // A kept pin whose directory moved fails even when only another rule
    // is new: nothing is silently re-resolved.
    std::fs::rename(root.join("a"), root.join("a2")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    let error = second.pin(None, &pins, &RealFileSystem).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Moved);
    // Granting it anew (without its old pin) pins the new directory.
    let fresh = pins.without_allow(first.storage().allow()[0].uri());
    assert!(second.pin(None, &fresh, &RealFileSystem).is_ok());
}

#[test]
fn merged_pins_serve_the_old_policy_and_the_new_one() {
    let (_dir, root) = root();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    let old = policy(&allow(&format!("fs://{}/a/**", root.display()), "read"));
    let new = policy(&allow(&format!("fs://{}/b/**", root.display()), "read"));
    let merged = pin(&old, None).merged(&pin(&new, None));
    assert!(old.compile_pinned(&merged, &RealFileSystem).is_ok());
    assert!(new.compile_pinned(&merged, &RealFileSystem).is_ok());
}

#[test]
fn a_deny_rule_keeps_denying_the_path_it_denied_when_granted() {
    let (_dir, root) = root();
    std::fs::create_dir_all(root.join("data")).unwrap();
    let p = policy(&format!(
        "{}    deny:\n      - uri: \"fs://{}/data/**\"\n        access: [write]\n",
        allow(&format!("fs://{}/data/**", root.display()), "read, write"),
        root.display()
    ));
    let pins = pin(&p, None);
    let grant = p.compile_pinned(&pins, &RealFileSystem).unwrap();
    assert!(grant.storage[0].read && !grant.storage[0].write);
}
