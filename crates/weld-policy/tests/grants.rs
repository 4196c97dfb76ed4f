//! The pure grant and revoke operations.

use weld_policy::{Access, EnvSource, ErrorKind, Policy, Scheme};

const R: &[Access] = &[Access::Read];
const RW: &[Access] = &[Access::Read, Access::Write];
const W: &[Access] = &[Access::Write];

fn base() -> Policy {
    Policy::parse_yaml(
        "version: \"1.0\"
permissions:
  storage:
    allow:
      - uri: \"fs:///srv/notes/**\"
        access: [read]
    deny:
      - uri: \"fs:///srv/secret/**\"
  network:
    allow:
      - host: \"api.github.com\"
    deny:
      - host: \"*.evil.example\"
  environment:
    allow:
      - key: \"HOME\"
",
    )
    .unwrap()
}

fn err(r: Result<Policy, weld_policy::PolicyError>) -> (ErrorKind, String) {
    let e = r.unwrap_err();
    (e.kind(), e.to_string())
}

#[test]
fn grant_storage_adds_a_rule_and_revoke_takes_it_away() {
    let p = base();
    let granted = p.grant_storage("fs://./workspace/", RW).unwrap();
    assert_eq!(granted.storage().allow().len(), 2);
    assert_eq!(
        granted.storage().allow()[1].uri().to_string(),
        "fs://./workspace/**"
    );
    assert_eq!(
        granted.revoke_storage("fs://./workspace/**", RW).unwrap(),
        p
    );
}

#[test]
fn grant_storage_widens_an_existing_rule_and_revoke_narrows_it() {
    let p = base();
    let rw = p.grant_storage("fs:///srv/notes/**", RW).unwrap();
    assert_eq!(rw.storage().allow().len(), 1);
    assert_eq!(
        rw.storage().allow()[0].access().to_string(),
        "[read, write]"
    );
    assert_eq!(rw.revoke_storage("fs:///srv/notes/**", W).unwrap(), p);
    assert_eq!(
        p.grant_storage("fs:///srv/notes/", R).unwrap(),
        p,
        "already granted: unchanged"
    );
}

#[test]
fn grant_storage_refuses_what_cannot_be_enforced_or_would_do_nothing() {
    let p = base();
    assert_eq!(
        err(p.grant_storage("fs:///srv/secret/data/**", R)),
        (ErrorKind::NoEffect, "granting [read] on `fs:///srv/secret/data/**` would have no effect: storage deny rule `fs:///srv/secret/**` denies it (deny beats allow); change the deny rule in the policy file first".into())
    );
    assert_eq!(
        err(p.grant_storage("fs:///srv/**", R)),
        (ErrorKind::Conflict, "storage deny rule `fs:///srv/secret/**` is inside allow rule `fs:///srv/**` and cannot be enforced exactly: weld grants whole directories; move the private files out or narrow the allow rule".into())
    );
    assert_eq!(
        err(p.grant_storage("fs:///tmp/**", W)),
        (ErrorKind::InvalidValue, "weld cannot grant write without read (WASI preopens are read-only or read-write); grant [read, write]".into())
    );
    assert_eq!(
        err(p.grant_storage("fs:///tmp/**", &[])),
        (
            ErrorKind::InvalidValue,
            "grant at least `read` access".into()
        )
    );
    assert_eq!(
        err(p.grant_storage("fs:///", R)),
        (ErrorKind::InvalidValue, "storage allow rule `fs:///**` grants the whole filesystem; weld refuses that — allow the directories the tool needs".into())
    );
    assert_eq!(
        err(p.grant_storage("fs:///srv/notes", RW)),
        (ErrorKind::Duplicate, "storage allow rule `fs:///srv/notes/**` names the same path as `fs:///srv/notes`; grant `fs:///srv/notes/**` to change its access".into())
    );
    assert_eq!(
        err(p.grant_storage("fs://~/x", R)).0,
        ErrorKind::InvalidValue
    );
}

#[test]
fn revoke_storage_says_what_is_granted_instead() {
    let p = base();
    assert_eq!(
        err(p.revoke_storage("fs:///other/**", RW)),
        (ErrorKind::NotGranted, "nothing to revoke: no storage allow rule names `fs:///other/**` (allowed: `fs:///srv/notes/**`)".into())
    );
    assert_eq!(
        err(p.revoke_storage("fs:///srv/notes/a/**", RW)),
        (ErrorKind::NotGranted, "`fs:///srv/notes/a/**` is not granted on its own: it is inside allow rule `fs:///srv/notes/**`, and weld grants whole directories — revoke `fs:///srv/notes/**` (and grant what should stay)".into())
    );
    assert_eq!(
        err(p.revoke_storage("fs:///srv/notes/**", W)),
        (
            ErrorKind::NotGranted,
            "nothing to revoke: `fs:///srv/notes/**` grants only [read]".into()
        )
    );
    let rw = p.grant_storage("fs:///srv/notes/**", RW).unwrap();
    assert_eq!(
        err(rw.revoke_storage("fs:///srv/notes/**", R)),
        (ErrorKind::InvalidValue, "revoking read from `fs:///srv/notes/**` would leave write without read, which weld cannot enforce; revoke [read, write]".into())
    );
    assert_eq!(
        err(Policy::deny_all().revoke_storage("fs:///a", R)),
        (
            ErrorKind::NotGranted,
            "nothing to revoke: no storage allow rule names `fs:///a` (no storage is granted)"
                .into()
        )
    );
    assert_eq!(
        err(p.revoke_storage("fs:///srv/notes/**", &[])).1,
        "name the access to revoke: `read`, `write` or both"
    );
}

#[test]
fn grant_network_adds_hosts_and_ports_and_revoke_takes_them_away() {
    let p = base();
    let g = p.grant_network("example.com").unwrap();
    assert!(g.network().check(Scheme::Https, "example.com", 443).allowed);
    assert_eq!(g.revoke_network("example.com").unwrap(), p);
    let g = p.grant_network("api.github.com:8443").unwrap();
    assert_eq!(g.network().allow()[0].ports(), Some(&[443, 8443][..]));
    assert_eq!(g.revoke_network("api.github.com:8443").unwrap(), p);
    assert_eq!(
        p.grant_network("api.github.com").unwrap(),
        p,
        "already granted: unchanged"
    );
    assert_eq!(p.grant_network("API.GITHUB.COM:443").unwrap(), p);
    let local = p.grant_network("[::1]:8080").unwrap();
    assert!(
        local
            .network()
            .check_addr("::1".parse().unwrap(), 8080)
            .allowed
    );
    assert_eq!(local.revoke_network("[::1]:8080").unwrap(), p);
    assert_eq!(
        p.grant_network("2001:db8::1").unwrap().network().allow()[1]
            .target()
            .to_string(),
        "host `2001:db8::1`"
    );
}

#[test]
fn grant_network_refuses_what_would_do_nothing() {
    let p = base();
    assert_eq!(
        err(p.grant_network("x.evil.example")),
        (ErrorKind::NoEffect, "granting host `x.evil.example` port 443 over https would have no effect: network deny rule for host `*.evil.example` denies it (deny beats allow); change the deny rule in the policy file first".into())
    );
    assert_eq!(
        err(p.grant_network("169.254.169.254")),
        (ErrorKind::InvalidValue, "host `169.254.169.254` is in 169.254.0.0/16 (IPv4 link-local, incl. cloud metadata 169.254.169.254), which weld always denies; this rule could never match — remove it".into())
    );
    assert_eq!(
        err(p.grant_network("a.com:0")),
        (
            ErrorKind::InvalidValue,
            "`a.com:0` has port `0`; ports are 1–65535".into()
        )
    );
    assert_eq!(
        err(p.grant_network("a.com:https")).1,
        "`a.com:https` has port `https`; ports are 1–65535"
    );
    assert_eq!(
        err(p.grant_network("[::1")).1,
        "`[::1` opens `[` without closing it; write `[::1]:8443`"
    );
    assert_eq!(
        err(p.grant_network("[::1]x")).1,
        "`[::1]x`: expected `:PORT` after `]`"
    );
    assert!(
        err(p.grant_network("localhost:8080"))
            .1
            .contains("always resolves to loopback")
    );
}

#[test]
fn revoke_network_says_what_is_allowed_instead() {
    let p = base();
    assert_eq!(
        err(p.revoke_network("nope.example")),
        (ErrorKind::NotGranted, "nothing to revoke: host `nope.example` is not allowed (allowed: host `api.github.com`)".into())
    );
    assert_eq!(
        err(p.revoke_network("api.github.com:8443")),
        (ErrorKind::NotGranted, "nothing to revoke: host `api.github.com` port 8443 over https is not allowed (allowed: host `api.github.com`)".into())
    );
    assert_eq!(
        p.revoke_network("api.github.com:443")
            .unwrap()
            .network()
            .allow()
            .len(),
        0
    );
    assert_eq!(
        err(Policy::deny_all().revoke_network("a.com")).1,
        "nothing to revoke: host `a.com` is not allowed (no network access is granted)"
    );
}

#[test]
fn grant_env_adds_or_changes_the_source_and_revoke_removes_the_key() {
    let p = base();
    let g = p.grant_env("TOKEN", EnvSource::Secret).unwrap();
    assert_eq!(g.environment()[1].from(), EnvSource::Secret);
    assert_eq!(g.revoke_env("TOKEN").unwrap(), p);
    assert_eq!(
        p.grant_env("HOME", EnvSource::Secret)
            .unwrap()
            .environment()[0]
            .from(),
        EnvSource::Secret
    );
    assert_eq!(p.grant_env("HOME", EnvSource::Host).unwrap(), p);
    assert_eq!(
        err(p.grant_env("1X", EnvSource::Host)).0,
        ErrorKind::InvalidValue
    );
    assert_eq!(
        err(p.revoke_env("NOPE")),
        (
            ErrorKind::NotGranted,
            "nothing to revoke: environment key `NOPE` is not allowed (allowed: `HOME`)".into()
        )
    );
    assert_eq!(
        err(Policy::deny_all().revoke_env("A")).1,
        "nothing to revoke: environment key `A` is not allowed (no environment is granted)"
    );
}

#[test]
fn grants_keep_the_policy_valid_and_printable() {
    let p = base()
        .grant_storage("fs://./out/**", RW)
        .unwrap()
        .grant_network("api.example.com:8443")
        .unwrap()
        .grant_env("TOKEN", EnvSource::Secret)
        .unwrap();
    assert_eq!(Policy::parse_yaml(&p.to_yaml()).unwrap(), p);
}
