//! The audit log when it is not a file, and when it cannot be written: a
//! full disk is simulated with a file-size limit (`RLIMIT_FSIZE`) on the
//! `weld serve` process, raised again while it runs.

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn weld_refuses_an_audit_log_that_is_a_named_pipe_instead_of_hanging() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["list"]).await;
    let fifo = dirs.state.join("audit.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    for command in ["serve", "audit"] {
        let output = tokio::time::timeout(Duration::from_secs(60), dirs.run(&[command]))
            .await
            .unwrap_or_else(|_| panic!("weld {command} must not wait on the pipe"));
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&fifo.display().to_string()) && stderr.contains("is a named pipe"),
            "weld {command}: {stderr}"
        );
    }
}

/// A full disk, as a file-size limit the test lifts while weld runs
/// (`prlimit`, Linux).
#[cfg(target_os = "linux")]
mod full_disk {
    use std::process::Stdio;
    use std::time::Duration;

    use rmcp::ClientServiceExt;
    use rmcp::transport::TokioChildProcess;
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::sync::mpsc;

    use crate::common::*;

    /// `weld serve ARGS` over stdio whose writes to files stop at `limit`
    /// bytes, its pid, and its log lines.
    async fn limited_server(
        dirs: &Dirs,
        args: &[&str],
        limit: u64,
    ) -> (Client, i32, mpsc::UnboundedReceiver<String>) {
        let mut cmd = dirs.weld();
        cmd.arg("serve").args(args);
        limit_file_size(&mut cmd, limit);
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weld serve");
        let pid = transport.id().expect("pid") as i32;
        let (tx, log) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(stderr.expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                let _ = tx.send(line);
            }
        });
        let client =
            ().serve_with_lifecycle(transport, legacy())
                .await
                .expect("MCP session over stdio");
        (client, pid, log)
    }

    /// Makes `cmd`'s writes to files stop at `limit` bytes.
    fn limit_file_size(cmd: &mut tokio::process::Command, limit: u64) {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `current` is a valid rlimit for getrlimit to fill.
        let got = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut current) };
        assert_eq!(got, 0);
        let hard = current.rlim_max;
        // SAFETY: the closure only calls setrlimit, which is async-signal-safe,
        // on a value it owns.
        unsafe {
            cmd.pre_exec(move || {
                let limited = libc::rlimit {
                    rlim_cur: limit.min(hard),
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limited) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }

    /// Waits for a log line containing `text`.
    async fn logged(log: &mut mpsc::UnboundedReceiver<String>, text: &str) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = log.recv().await {
                if line.contains(text) {
                    return;
                }
            }
            panic!("weld exited before logging `{text}`");
        })
        .await
        .unwrap_or_else(|_| panic!("weld did not log `{text}` within 30 s"));
    }

    /// Lifts the file-size limit of the running process.
    fn free_disk(pid: i32) {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `current` is a valid rlimit for prlimit to fill.
        let got = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut current) };
        assert_eq!(got, 0);
        let lifted = libc::rlimit {
            rlim_cur: current.rlim_max,
            rlim_max: current.rlim_max,
        };
        // SAFETY: `lifted` is a valid rlimit; the old value is not asked for.
        let set = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &lifted, std::ptr::null_mut()) };
        assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    }

    /// An audit log already at `bytes` (blank lines, which `weld audit` skips),
    /// and the hostile component installed (compiled into the cache, so that
    /// serving it writes no file).
    async fn full_state(dirs: &Dirs, bytes: usize) {
        install_hostile(dirs).await;
        std::fs::write(dirs.state.join("audit.jsonl"), "\n".repeat(bytes)).expect("audit log");
    }

    /// Waits until the audit log has a record of an echo of `text`.
    async fn echo_recorded(dirs: &Dirs, args_bytes: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let records = audit_lines(dirs);
            if records
                .iter()
                .any(|r| r["tool"] == "hostile_echo" && r["args_bytes"] == args_bytes)
            {
                return records;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no record of the last call: {records:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn echo_args(text: &str) -> (Value, usize) {
        let args = json!({ "text": text });
        let bytes = args.to_string().len();
        (args, bytes)
    }

    #[tokio::test]
    async fn on_a_full_disk_calls_go_on_and_every_record_lost_is_counted_in_the_log() {
        let dirs = Dirs::new();
        full_state(&dirs, 4096).await;
        let (client, pid, mut log) = limited_server(&dirs, &[], 4096).await;
        for n in 0..3 {
            let result = call(
                &client,
                "hostile_echo",
                json!({ "text": format!("lost {n}") }),
            )
            .await;
            assert_eq!(result.is_error, Some(false), "keep-serving serves on");
        }
        logged(&mut log, "could not write the audit log").await;
        free_disk(pid);
        let (args, bytes) = echo_args("written at last");
        call(&client, "hostile_echo", args).await;
        let records = echo_recorded(&dirs, bytes).await;
        // Every call is in the log: as its own record, or counted in one
        // standing for those that could not be written, placed before it.
        let lost: u64 = records
            .iter()
            .filter(|r| r["outcome"] == "records_lost")
            .map(|r| r["records_lost"].as_u64().unwrap_or(0))
            .sum();
        let written = records
            .iter()
            .filter(|r| r["tool"] == "hostile_echo")
            .count() as u64;
        assert!(lost >= 1, "{records:?}");
        assert_eq!(lost + written, 4, "{records:?}");
        let marker = records
            .iter()
            .find(|r| r["outcome"] == "records_lost")
            .expect("a records_lost record");
        assert_eq!(marker["tool"], "weld");
        assert!(
            marker["error"]
                .as_str()
                .unwrap_or("")
                .contains("File too large"),
            "{marker}"
        );
        let shown = dirs.run(&["audit", "--outcome", "records_lost"]).await;
        assert!(
            String::from_utf8_lossy(&shown.stdout).contains("could not be written"),
            "{shown:?}"
        );
        client.cancel().await.expect("close");
    }

    #[tokio::test]
    async fn with_refuse_calls_no_tool_runs_while_records_cannot_be_written() {
        let dirs = Dirs::new();
        full_state(&dirs, 4096).await;
        let (client, pid, mut log) =
            limited_server(&dirs, &["--audit-failure", "refuse-calls"], 4096).await;
        let (args, _) = echo_args("runs; its record is lost");
        let first = call(&client, "hostile_echo", args).await;
        assert_eq!(first.is_error, Some(false));
        logged(&mut log, "could not write the audit log").await;
        let refused = call(&client, "hostile_echo", json!({"text": "refused"})).await;
        assert_eq!(refused.is_error, Some(true));
        let message = text(&refused);
        assert!(
            message.contains("cannot write its audit log")
                && message.contains("audit.jsonl")
                && message.contains("refuse-calls"),
            "{message}"
        );
        free_disk(pid);
        let (args, bytes) = echo_args("runs again");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let result = call(&client, "hostile_echo", args.clone()).await;
            if result.is_error == Some(false) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still refused after the disk was freed: {}",
                text(&result)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let records = echo_recorded(&dirs, bytes).await;
        let lost: Vec<&Value> = records
            .iter()
            .filter(|r| r["outcome"] == "records_lost")
            .collect();
        assert_eq!(lost.len(), 1, "{records:?}");
        assert_eq!(lost[0]["records_lost"], 1, "{records:?}");
        // Refused calls did not run: the only call record is the last one.
        assert_eq!(
            records
                .iter()
                .filter(|r| r["tool"] == "hostile_echo")
                .count(),
            1,
            "{records:?}"
        );
        client.cancel().await.expect("close");
    }

    /// Asks `url` (a probe) until it answers `status`, up to a generous
    /// deadline; returns the body.
    async fn probe_until(url: &str, status: u16) -> String {
        poll_url(url, |attempt| {
            attempt
                .as_ref()
                .is_ok_and(|response| response.status().as_u16() == status)
        })
        .await
        .expect("probe")
        .text()
        .await
        .expect("body")
    }

    #[tokio::test]
    async fn with_refuse_calls_a_replica_is_unready_while_records_cannot_be_written() {
        let dirs = Dirs::new();
        full_state(&dirs, 4096).await;
        let mut cmd = dirs.weld();
        limit_file_size(&mut cmd, 4096);
        let (server, addr) =
            http_server_with(&dirs, &["--audit-failure", "refuse-calls"], cmd).await;
        let pid = server.id().expect("pid") as i32;
        let (readyz, healthz) = (
            format!("http://{addr}/readyz"),
            format!("http://{addr}/healthz"),
        );
        probe_until(&readyz, 200).await;
        // A call runs; its record cannot be written, and from then on every
        // call would be refused: the balancer should send them elsewhere.
        let http = reqwest_client();
        let (args, _) = echo_args("runs; its record is lost");
        let url = format!("http://{addr}/mcp");
        let ran = crate::http::post(
            &http,
            &url,
            &crate::http::modern_call(1, "hostile_echo", args),
            "hostile_echo",
        )
        .send()
        .await
        .expect("send");
        assert_eq!(ran.status(), 200);
        let reason = probe_until(&readyz, 503).await;
        assert!(
            reason.contains("audit log cannot be written") && reason.contains("refuse-calls"),
            "{reason}"
        );
        // Probes need no token: the reason names no path.
        assert!(!reason.contains("audit.jsonl"), "{reason}");
        assert_eq!(reason.lines().count(), 1, "one reason line: {reason}");
        let alive = http.get(&healthz).send().await.expect("probe");
        assert_eq!(alive.status(), 200, "alive, only unready");
        // Ready again as soon as a record can be written, with no call
        // needed to find out.
        free_disk(pid);
        assert_eq!(probe_until(&readyz, 200).await, "ready\n");
    }
}
