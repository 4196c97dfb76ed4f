//! Storage rules: URIs, access, what deny rules do to allow rules, and
//! compiling against a real directory tree.

use std::path::{Path, PathBuf};

use weld_policy::{AccessSet, ErrorKind, FileSystem as _, PathKind, Policy, StorageGrant};

fn doc(storage: &str) -> String {
    format!("version: \"1.0\"\npermissions:\n  storage:\n{storage}")
}

fn err(storage: &str) -> String {
    Policy::parse_yaml(&doc(storage)).unwrap_err().to_string()
}

fn ok(storage: &str) -> Policy {
    Policy::parse_yaml(&doc(storage)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_deny_inside_an_allowed_tree_is_refused_naming_both_rules() {
    let storage = "    allow:
      - uri: \"fs:///home/me/notes/**\"
        access: [read]
    deny:
      - uri: \"fs:///home/me/notes/private/**\"
";
    let e = Policy::parse_yaml(&doc(storage)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "8:9: storage deny rule `fs:///home/me/notes/private/**` is inside allow rule `fs:///home/me/notes/**` (5:9) and cannot be enforced exactly: weld grants whole directories; move the private files out or narrow the allow rule"
    );
}

#[test]
fn a_deny_inside_an_allowed_tree_is_fine_when_it_denies_nothing_granted_there() {
    let p = ok("    allow:
      - uri: \"fs:///srv/data/**\"
        access: [read]
    deny:
      - uri: \"fs:///srv/data/logs/**\"
        access: [write]
");
    assert_eq!(p.storage().deny()[0].access(), AccessSet::WRITE);
}

#[test]
fn a_deny_covering_a_whole_allow_rule_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(root.join("c")).unwrap();
    let text = doc(&format!(
        "    allow:
      - uri: \"fs://{root}/a/b/**\"
        access: [read, write]
      - uri: \"fs://{root}/c/**\"
        access: [read]
    deny:
      - uri: \"fs://{root}/a/**\"
",
        root = root.display()
    ));
    let grant = Policy::parse_yaml(&text).unwrap().compile(&root).unwrap();
    assert_eq!(grant.storage.len(), 1, "{grant:?}");
    assert_eq!(grant.storage[0].host_path, root.join("c"));
    assert_eq!(grant.storage_access(&root.join("a/b/x")), AccessSet::NONE);
}

#[test]
fn a_write_deny_covering_a_read_write_rule_leaves_it_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("w")).unwrap();
    let grant = ok("    allow:
      - uri: \"fs://./w/**\"
        access: [read, write]
    deny:
      - uri: \"fs://./**\"
        access: [write]
")
    .compile(&root)
    .unwrap();
    assert_eq!(
        grant.storage,
        vec![StorageGrant {
            host_path: root.join("w"),
            guest_path: root.join("w").display().to_string(),
            kind: PathKind::Dir,
            read: true,
            write: false,
            identity: weld_policy::RealFileSystem
                .identity(&root.join("w"))
                .unwrap(),
        }]
    );
}

#[test]
fn a_read_deny_covering_a_read_write_rule_is_refused() {
    assert_eq!(
        err("    allow:
      - uri: \"fs:///srv/**\"
        access: [read, write]
    deny:
      - uri: \"fs:///srv/**\"
        access: [read]
"),
        "8:9: storage deny rule `fs:///srv/**` denies read but not write on all of allow rule `fs:///srv/**` (5:9); weld cannot grant write without read (WASI preopens are read-only or read-write) — deny [read, write], or allow [read] only"
    );
}

#[test]
fn relative_rules_are_checked_against_each_other_when_parsed() {
    assert_eq!(
        err("    allow:
      - uri: \"fs://./ws/**\"
        access: [read]
    deny:
      - uri: \"fs://./ws/secret\"
"),
        "8:9: storage deny rule `fs://./ws/secret` is inside allow rule `fs://./ws/**` (5:9) and cannot be enforced exactly: weld grants whole directories; move the private files out or narrow the allow rule"
    );
}

#[test]
fn write_without_read_cannot_be_granted() {
    assert_eq!(
        err("    allow:
      - uri: \"fs:///tmp/out/**\"
        access: [write]
"),
        "6:17: `permissions.storage.allow[0].access` is [write] without read; weld cannot grant write without read (WASI preopens are read-only or read-write) — write `[read, write]`"
    );
}

#[test]
fn access_lists_are_checked() {
    let rule = |access: &str| {
        err(&format!(
            "    allow:\n      - uri: \"fs:///a/**\"\n        access: {access}\n"
        ))
    };
    assert_eq!(
        rule("[execute]"),
        "6:18: `permissions.storage.allow[0].access[0]`: unknown access `execute`; expected `read` or `write`"
    );
    assert_eq!(
        rule("[read, read]"),
        "6:24: `permissions.storage.allow[0].access` lists `read` twice; list it once"
    );
    assert_eq!(
        rule("[]"),
        "6:17: `permissions.storage.allow[0].access` is an empty list; write `[read]` or `[read, write]`"
    );
    assert_eq!(
        rule("read"),
        "6:17: `permissions.storage.allow[0].access` must be a list, found a string"
    );
    assert_eq!(
        err("    allow:\n      - uri: \"fs:///a/**\"\n"),
        "5:9: `permissions.storage.allow[0]` has no `access`; add `access: [read]` or `access: [read, write]`"
    );
    assert_eq!(
        err("    allow:\n      - access: [read]\n"),
        "5:9: `permissions.storage.allow[0]` has no `uri`; add e.g. `uri: \"fs:///absolute/dir/**\"`"
    );
}

#[test]
fn uri_errors_point_at_the_uri() {
    assert_eq!(
        err("    allow:\n      - uri: \"fs://~/agent/**\"\n        access: [read]\n"),
        "5:14: `permissions.storage.allow[0].uri`: storage URI `fs://~/agent/**` starts with `~`; weld does not expand `~` — write the absolute path (`fs:///home/NAME/…`)"
    );
    assert_eq!(
        err("    deny:\n      - uri: \"fs:///a/../etc\"\n"),
        "5:14: `permissions.storage.deny[0].uri`: storage URI `fs:///a/../etc` contains `..`; weld refuses `..` in storage rules — write the path without it"
    );
    assert_eq!(
        err("    allow:\n      - uri: \"fs:///notes/*.md\"\n        access: [read]\n"),
        "5:14: `permissions.storage.allow[0].uri`: storage URI `fs:///notes/*.md` uses a glob other than a trailing `/**`; weld grants whole directories or single files (WASI preopens) and cannot enforce patterns — grant the directory (`…/**`) or list the files one by one"
    );
}

#[test]
fn the_whole_filesystem_is_never_granted() {
    assert_eq!(
        err("    allow:\n      - uri: \"fs:///**\"\n        access: [read]\n"),
        "5:9: storage allow rule `fs:///**` grants the whole filesystem; weld refuses that — allow the directories the tool needs"
    );
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("root");
    std::os::unix::fs::symlink("/", &link).unwrap();
    let p = ok(&format!(
        "    allow:\n      - uri: \"fs://{}\"\n        access: [read]\n",
        link.display()
    ));
    assert_eq!(
        p.compile(dir.path()).unwrap_err().to_string(),
        format!(
            "storage allow rule `fs://{}` resolves to the filesystem root; weld refuses to grant the whole filesystem — allow the directories the tool needs",
            link.display()
        )
    );
}

#[test]
fn the_same_path_twice_is_refused() {
    assert_eq!(
        err("    allow:
      - uri: \"fs:///a/**\"
        access: [read]
      - uri: \"fs:///a\"
        access: [read, write]
"),
        "7:9: storage allow rule `fs:///a` names the same path as allow rule `fs:///a/**` (first at 5:9); merge them into one rule"
    );
    assert_eq!(
        err("    deny:\n      - uri: \"fs:///a/**\"\n      - uri: \"fs:///a/\"\n"),
        "6:9: storage deny rule `fs:///a/**` names the same path as deny rule `fs:///a/**` (first at 5:9); merge them into one rule"
    );
}

#[test]
fn nested_allow_rules_grant_the_union() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    let grant = ok("    allow:
      - uri: \"fs://./a/**\"
        access: [read]
      - uri: \"fs://./a/b/**\"
        access: [read, write]
")
    .compile(&root)
    .unwrap();
    assert_eq!(grant.storage_access(&root.join("a/x")), AccessSet::READ);
    assert_eq!(
        grant.storage_access(&root.join("a/b/y")),
        AccessSet::READ_WRITE
    );
    assert_eq!(
        grant.storage_access(&root.join("ab")),
        AccessSet::NONE,
        "path components, not string prefixes"
    );
}

#[test]
fn compile_resolves_relative_uris_and_symlinks_and_tells_files_from_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("real/data")).unwrap();
    std::fs::write(root.join("real/config.toml"), "x").unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    let grant = ok("    allow:
      - uri: \"fs://./link/data/**\"
        access: [read, write]
      - uri: \"fs://./link/config.toml\"
        access: [read]
")
    .compile(&root)
    .unwrap();
    assert_eq!(grant.storage[0].host_path, root.join("real/data"));
    assert_eq!(
        grant.storage[0].guest_path,
        root.join("link/data").display().to_string()
    );
    assert_eq!(grant.storage[0].kind, PathKind::Dir);
    assert_eq!(grant.storage[1].host_path, root.join("real/config.toml"));
    assert_eq!(grant.storage[1].kind, PathKind::File);
    assert_eq!(
        grant.storage_access(&root.join("real/config.toml")),
        AccessSet::READ
    );
    assert_eq!(
        grant.storage_access(&root.join("real/other")),
        AccessSet::NONE
    );
}

#[test]
fn a_deny_reached_through_a_symlink_is_still_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("notes/private")).unwrap();
    std::os::unix::fs::symlink(root.join("notes/private"), root.join("alias")).unwrap();
    let p = ok("    allow:
      - uri: \"fs://./notes/**\"
        access: [read]
    deny:
      - uri: \"fs://./alias/**\"
");
    assert_eq!(
        p.compile(&root).unwrap_err().to_string(),
        format!(
            "storage deny rule `fs://./alias/**` (resolved to {r}/notes/private) is inside allow rule `fs://./notes/**` (resolved to {r}/notes) and cannot be enforced exactly: weld grants whole directories; move the private files out or narrow the allow rule",
            r = root.display()
        )
    );
}

#[test]
fn a_relative_allow_and_an_absolute_deny_are_checked_at_compile() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("ws")).unwrap();
    let p = ok(&format!(
        "    allow:\n      - uri: \"fs://./ws/**\"\n        access: [read]\n    deny:\n      - uri: \"fs://{}/ws/not-yet-created/**\"\n",
        root.display()
    ));
    let e = p.compile(&root).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string()
            .contains("is inside allow rule `fs://./ws/**`"),
        "{e}"
    );
}

#[test]
fn compile_refuses_what_is_not_there_or_not_what_the_rule_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("file.txt"), "x").unwrap();
    let compile = |storage: &str| ok(storage).compile(&root).unwrap_err().to_string();
    assert_eq!(
        compile("    allow:\n      - uri: \"fs://./missing/**\"\n        access: [read]\n"),
        format!(
            "storage allow rule `fs://./missing/**` names {}/missing, which does not exist; create it or remove the rule",
            root.display()
        )
    );
    assert_eq!(
        compile("    allow:\n      - uri: \"fs://./file.txt/**\"\n        access: [read]\n"),
        format!(
            "storage allow rule `fs://./file.txt/**` ends in `/**` (a directory tree) but {}/file.txt is a file; drop the `/**` to grant the file",
            root.display()
        )
    );
    assert_eq!(
        compile("    allow:\n      - uri: \"fs:///dev/null\"\n        access: [read]\n"),
        "storage allow rule `fs:///dev/null` names /dev/null, which is neither a file nor a directory; weld grants only those"
    );
}

#[test]
fn the_base_directory_must_be_absolute_and_plain() {
    let p = Policy::deny_all();
    assert_eq!(
        p.compile(Path::new("rel")).unwrap_err().to_string(),
        "the base directory `rel` is not absolute; give an absolute path"
    );
    assert_eq!(
        p.compile(Path::new("/a/../b")).unwrap_err().to_string(),
        "the base directory `/a/../b` contains `.` or `..`; give it without them"
    );
    assert_eq!(
        p.compile(&PathBuf::from(
            "/nonexistent-is-fine-without-relative-rules"
        ))
        .unwrap()
        .storage,
        vec![]
    );
}

struct Broken;

impl weld_policy::FileSystem for Broken {
    fn probe(&self, _: &Path) -> std::io::Result<weld_policy::Probe> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied",
        ))
    }

    fn identity(&self, _: &Path) -> std::io::Result<weld_policy::Identity> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied",
        ))
    }
}

#[test]
fn an_unreadable_path_is_an_error_naming_the_rule() {
    let p = ok("    allow:\n      - uri: \"fs:///srv/**\"\n        access: [read]\n");
    let e = p.compile_with(Path::new("/"), &Broken).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Filesystem);
    assert_eq!(
        e.to_string(),
        "storage allow rule `fs:///srv/**`: cannot inspect /srv: permission denied"
    );
    let p = ok("    deny:\n      - uri: \"fs:///srv/**\"\n");
    assert_eq!(
        p.compile_with(Path::new("/"), &Broken)
            .unwrap_err()
            .to_string(),
        "storage deny rule `fs:///srv/**`: cannot inspect /srv: permission denied"
    );
}
