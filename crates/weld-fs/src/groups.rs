//! Whether a group is a user's own private group: the group Debian-style
//! systems create for each user (same name, no other member), which makes a
//! group-writable directory under umask 002 no more open than its owner.
//!
//! Read from `/etc/passwd` and `/etc/group` only. A group known only to a
//! directory service (LDAP, sssd) is not found there and so is not private:
//! the answer may wrongly be "shared" (and the directory refused with its
//! fix), never wrongly "private".

/// Whether `gid` is the private group of user `uid`.
pub(crate) fn is_private(gid: u32, uid: u32) -> bool {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    private_in(&read("/etc/passwd"), &read("/etc/group"), gid, uid)
}

/// [`is_private`] over the texts of `/etc/passwd` and `/etc/group`: the
/// group has the user's name, lists no member but the user, and is the
/// primary group of no other user.
fn private_in(passwd: &str, group: &str, gid: u32, uid: u32) -> bool {
    let users: Vec<(&str, u32, u32)> = passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((name, uid, gid))
        })
        .collect();
    let Some(&(name, _, _)) = users.iter().find(|(_, u, _)| *u == uid) else {
        return false;
    };
    if users.iter().any(|&(_, u, g)| g == gid && u != uid) {
        return false;
    }
    let mut entries = group.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let group_name = fields.next()?;
        let _password = fields.next()?;
        let group_gid: u32 = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or("");
        Some((group_name, group_gid, members))
    });
    entries.any(|(group_name, group_gid, members)| {
        group_gid == gid
            && group_name == name
            && members
                .split(',')
                .map(str::trim)
                .all(|m| m.is_empty() || m == name)
    })
}

#[cfg(test)]
mod tests {
    use super::private_in;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
        bob:x:1001:100:Bob:/home/bob:/bin/bash\n\
        carol:x:1002:100::/home/carol:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        users:x:100:\n\
        alice:x:1000:\n\
        staff:x:50:alice,bob\n\
        shared:x:1003:alice,bob\n";

    #[test]
    fn a_users_own_group_is_private() {
        assert!(private_in(PASSWD, GROUP, 1000, 1000));
    }

    #[test]
    fn a_group_others_belong_to_is_not_private() {
        // bob and carol share `users` as their primary group.
        assert!(!private_in(PASSWD, GROUP, 100, 1001));
        // Listed members.
        assert!(!private_in(PASSWD, GROUP, 50, 1000));
        assert!(!private_in(PASSWD, GROUP, 1003, 1000));
    }

    #[test]
    fn an_unknown_group_or_user_is_not_private() {
        assert!(!private_in(PASSWD, GROUP, 4242, 1000));
        assert!(!private_in(PASSWD, GROUP, 1000, 4242));
        assert!(!private_in("", "", 1000, 1000));
    }

    #[test]
    fn a_group_named_after_the_user_but_with_another_member_is_not_private() {
        let group = "alice:x:1000:mallory\n";
        assert!(!private_in(PASSWD, group, 1000, 1000));
    }
}
