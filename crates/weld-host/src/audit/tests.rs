//! The audit log's tests: writing, losing and recovering records.

use std::time::SystemTime;

use super::record::rfc3339;
use super::*;

#[test]
fn fuel_used_is_written_only_for_a_call_with_a_budget() {
    let mut record = AuditRecord {
        time: rfc3339(Duration::ZERO),
        tool: "t_f".into(),
        component: "t".into(),
        digest: "sha256:00".into(),
        client: None,
        args_bytes: 2,
        queued_us: 0,
        load_us: 0,
        duration_us: 1,
        peak_memory: 65536,
        fuel_used: None,
        stdout_bytes: 0,
        stderr_bytes: 0,
        outcome: "ok".into(),
        error: None,
        network: Vec::new(),
        network_dropped: 0,
        storage_denied: Vec::new(),
        storage_denied_dropped: 0,
        change: None,
        target: None,
        records_lost: 0,
        replica: None,
    };
    let unmetered = serde_json::to_string(&record).expect("json");
    assert!(!unmetered.contains("fuel_used"), "{unmetered}");
    record.fuel_used = Some(1234);
    record.outcome = "out_of_fuel".into();
    let metered = serde_json::to_string(&record).expect("json");
    assert!(metered.contains(r#""fuel_used":1234"#), "{metered}");
    let back: AuditRecord = serde_json::from_str(&metered).expect("reads back");
    assert_eq!(back, record);
}

#[test]
fn timestamps_are_rfc3339_utc_with_milliseconds() {
    assert_eq!(
        rfc3339(Duration::from_millis(0)),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        rfc3339(Duration::from_millis(951_782_400_123)),
        "2000-02-29T00:00:00.123Z"
    );
    assert_eq!(
        rfc3339(Duration::from_secs(1_795_295_663)),
        "2026-11-21T21:14:23.000Z"
    );
}

/// A disk that fills up on demand, optionally after taking a few more
/// bytes (a write cut short).
#[derive(Clone, Default)]
struct Disk(Arc<Mutex<DiskState>>);

#[derive(Default)]
struct DiskState {
    data: Vec<u8>,
    full: bool,
    room: usize,
}

impl Disk {
    fn fill(&self, room: usize) {
        let mut state = self.0.lock().expect("disk");
        state.full = true;
        state.room = room;
    }

    fn free(&self) {
        self.0.lock().expect("disk").full = false;
    }

    fn lines(&self) -> Vec<String> {
        let state = self.0.lock().expect("disk");
        String::from_utf8_lossy(&state.data)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock().expect("disk");
        let n = if state.full {
            if state.room == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(state.room);
            state.room -= n;
            n
        } else {
            buf.len()
        };
        state.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn audit(disk: &Disk, failure: AuditFailure) -> Audit {
    Audit::start(
        disk.clone(),
        PathBuf::from("/state/audit.jsonl"),
        failure,
        None,
        None,
    )
    .expect("start")
}

fn change(n: u64) -> BuiltinRecord {
    BuiltinRecord {
        at: SystemTime::now(),
        tool: "weld_revoke",
        component: format!("c{n}"),
        digest: String::new(),
        client: None,
        args_bytes: n,
        outcome: Outcome::Applied,
        change: None,
        error: None,
    }
}

fn flush(audit: &Audit) {
    audit.flush(Duration::from_secs(10));
}

fn record(line: &str) -> AuditRecord {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn on_a_full_disk_records_are_counted_as_lost_and_the_gap_is_recorded_once_it_clears() {
    let disk = Disk::default();
    let audit = audit(&disk, AuditFailure::KeepServing);
    audit.record_builtin(change(0));
    flush(&audit);
    disk.fill(0);
    for n in 1..=3 {
        audit.record_builtin(change(n));
    }
    flush(&audit);
    assert_eq!(audit.lost_records(), 3);
    assert_eq!(audit.refusal(), None, "keep-serving never refuses");
    disk.free();
    audit.record_builtin(change(4));
    flush(&audit);
    let lines = disk.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(record(&lines[0]).component, "c0");
    let lost = record(&lines[1]);
    assert_eq!(
        (lost.tool.as_str(), lost.outcome.as_str(), lost.records_lost),
        ("weld", Outcome::RecordsLost.as_str(), 3)
    );
    let error = lost.error.unwrap_or_default();
    assert!(error.contains("No space left on device"), "{error}");
    assert_eq!(record(&lines[2]).component, "c4");
    assert_eq!(audit.lost_records(), 3);
}

#[test]
fn with_refuse_calls_calls_are_refused_exactly_while_records_cannot_be_written() {
    let disk = Disk::default();
    let audit = audit(&disk, AuditFailure::RefuseCalls);
    assert_eq!(audit.refusal(), None);
    disk.fill(0);
    audit.record_builtin(change(1));
    flush(&audit);
    let refusal = audit.refusal().expect("refused while the disk is full");
    assert!(
        refusal.contains("/state/audit.jsonl") && refusal.contains("No space left"),
        "{refusal}"
    );
    // Freed, the writer's next attempt (its `records_lost` record)
    // succeeds without any new call to record.
    disk.free();
    flush(&audit);
    assert_eq!(audit.refusal(), None);
    let lines = disk.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(record(&lines[0]).records_lost, 1);
}

#[test]
fn a_write_cut_short_leaves_every_other_line_a_whole_record() {
    let disk = Disk::default();
    let audit = audit(&disk, AuditFailure::KeepServing);
    disk.fill(10);
    audit.record_builtin(change(1));
    audit.record_builtin(change(2));
    flush(&audit);
    assert_eq!(audit.lost_records(), 2);
    disk.free();
    audit.record_builtin(change(3));
    flush(&audit);
    let lines = disk.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0].len(),
        10,
        "the partial line ends where the disk did"
    );
    assert!(serde_json::from_str::<AuditRecord>(&lines[0]).is_err());
    assert_eq!(record(&lines[1]).records_lost, 2);
    assert_eq!(record(&lines[2]).component, "c3");
}

#[test]
fn the_audit_log_must_be_a_regular_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_regular = |path: &Path| match Audit::to_file(path, AuditFailure::KeepServing) {
        Err(AuditError::NotRegular { kind, .. }) => kind,
        other => panic!("{}: {other:?}", path.display()),
    };

    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    #[allow(unsafe_code, reason = "making a FIFO needs libc::mkfifo")]
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(made, 0);
    // Opening a pipe nobody reads must fail at once, not wait.
    assert_eq!(not_regular(&fifo), "a named pipe");

    let file = dir.path().join("real.jsonl");
    std::fs::write(&file, "").expect("file");
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    assert_eq!(not_regular(&link), "a symbolic link");
    assert_eq!(not_regular(dir.path()), "a directory");
    assert_eq!(not_regular(Path::new("/dev/full")), "a character device");

    // Reading waits on nothing either.
    assert!(matches!(
        read_log(&fifo),
        Err(AuditError::NotRegular {
            kind: "a named pipe",
            ..
        })
    ));
    assert!(matches!(read_log(&dir.path().join("none")), Ok(None)));

    let error = Audit::to_file(&link, AuditFailure::KeepServing).expect_err("refused");
    assert!(error.to_string().contains("link.jsonl"), "{error}");

    let fresh = dir.path().join("audit.jsonl");
    let audit = Audit::to_file(&fresh, AuditFailure::KeepServing).expect("a new file");
    audit.record_builtin(change(1));
    flush(&audit);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&fresh).expect("created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&fresh)
            .expect("read")
            .lines()
            .count(),
        1
    );
}
