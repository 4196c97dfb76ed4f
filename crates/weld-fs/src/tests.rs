//! The directory and file checks, on real directories where this user can
//! build the case, and on the decision functions for ownership (a test
//! cannot make a directory belong to someone else unless it runs as root).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_missing_directory_is_created_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("a/b/state");
    let canonical = private_dir(&dir).expect("created");
    assert_eq!(canonical, fs::canonicalize(&dir).expect("canonical"));
    for made in [tmp.path().join("a"), tmp.path().join("a/b"), dir] {
        let mode = fs::metadata(&made).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", made.display());
    }
}

#[test]
fn a_world_writable_directory_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("state");
    fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o777);
    let error = private_dir(&dir).expect_err("refused");
    assert!(
        matches!(
            error,
            DirError::Unsafe {
                problem: Problem::Writable {
                    by: Writers::Others,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("mode 0777"), "{message}");
    assert!(message.contains("chmod go-w"), "{message}");
    // Refused, not repaired: weld did not create it.
    assert_eq!(
        fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
        0o777
    );
}

#[test]
fn a_group_writable_subdirectory_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = private_dir(&tmp.path().join("state")).expect("root");
    let sub = root.join("policies");
    fs::create_dir(&sub).expect("mkdir");
    chmod(&sub, 0o770);
    let error = private_subdir(&sub).expect_err("refused");
    assert!(error.to_string().contains("its group"), "{error}");
}

#[test]
fn a_writable_parent_is_refused_unless_sticky() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = tmp.path().join("shared");
    fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o777);
    let dir = shared.join("state");
    let error = private_dir(&dir).expect_err("refused");
    let DirError::Unsafe { dir: at_fault, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(at_fault, &fs::canonicalize(&shared).expect("canonical"));
    assert!(error.to_string().contains("a parent of"), "{error}");
    assert!(error.to_string().contains("chmod +t"), "{error}");
    // Sticky, like /tmp: nobody else may rename or delete what we own there.
    chmod(&shared, 0o1777);
    private_dir(&dir).expect("accepted under a sticky parent");
}

#[test]
fn a_symlinked_directory_is_checked_where_it_leads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let real = tmp.path().join("real");
    fs::create_dir(&real).expect("mkdir");
    chmod(&real, 0o777);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let error = private_dir(&link).expect_err("the target is world-writable");
    assert!(error.to_string().contains("real"), "{error}");
}

#[test]
fn a_file_where_a_directory_should_be_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = private_dir(&tmp.path().join("state")).expect("root");
    fs::write(root.join("blobs"), b"").expect("write");
    assert!(private_subdir(&root.join("blobs")).is_err());
}

#[test]
fn ownership_decides_before_modes() {
    assert_eq!(
        judge_own(1001, 0o40700, 1000),
        Some(Problem::Owner {
            owner: 1001,
            me: 1000
        })
    );
    assert_eq!(judge_own(1000, 0o40700, 1000), None);
    assert_eq!(judge_own(1000, 0o40755, 1000), None);
    let never = |_| false;
    assert_eq!(
        judge_parent(1001, 1001, 0o40755, 1000, &never),
        Parent::Unsafe(Problem::Owner {
            owner: 1001,
            me: 1000
        })
    );
    assert_eq!(
        judge_parent(0, 0, 0o40755, 1000, &never),
        Parent::TrustedRoot
    );
    assert_eq!(
        judge_parent(0, 0, 0o41777, 1000, &never),
        Parent::TrustedRoot
    );
    assert_eq!(
        judge_parent(1000, 1000, 0o40755, 1000, &never),
        Parent::Fine
    );
}

#[test]
fn a_group_writable_parent_passes_only_with_the_users_private_group() {
    let private = |gid| gid == 1000;
    assert_eq!(
        judge_parent(1000, 1000, 0o40775, 1000, &private),
        Parent::Fine
    );
    assert!(matches!(
        judge_parent(1000, 100, 0o40775, 1000, &private),
        Parent::Unsafe(Problem::Writable {
            by: Writers::Group,
            ..
        })
    ));
    // root's group-writable directories are as open as their group.
    assert!(matches!(
        judge_parent(0, 1000, 0o40775, 1000, &private),
        Parent::Unsafe(_)
    ));
}

#[test]
fn files_are_opened_without_following_links_or_waiting_on_fifos() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = tmp.path().join("target");
    fs::write(&target, b"secret").expect("write");
    let link = tmp.path().join("index.json");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let error = read_regular(&link).expect_err("not followed");
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert_eq!(
        read_regular(&target).expect("read").as_deref(),
        Some(&b"secret"[..])
    );
    assert!(
        read_regular(&tmp.path().join("missing"))
            .expect("missing")
            .is_none()
    );
    let fifo = tmp.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    // Would block forever on open without O_NONBLOCK.
    let error = read_regular(&fifo).expect_err("refused");
    assert!(error.to_string().contains("FIFO"), "{error}");
}
