//! Scale-out as docs/deploy.md describes it, on loopback: three `weld serve
//! --http` replicas started from one configuration file, with the same
//! installed tools, behind Debian's haproxy (health checks on /healthz,
//! retries of refused connections). Calls are spread over the replicas and
//! all succeed, also while one replica is stopped with SIGTERM under load;
//! a call that replica was running when the signal came finishes; every
//! replica's audit records carry its name.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::process::Child;

use crate::common::*;
use crate::http::{message, modern_call, post};

/// A running haproxy; killed when dropped.
struct Haproxy {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
}

fn haproxy_binary() -> PathBuf {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("haproxy is not installed; these tests run a real one: `apt-get install haproxy`")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Haproxy {
    async fn start(backends: &[std::net::SocketAddr]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("  server r{i} {addr} check inter 200ms fall 2 rise 1\n"))
            .collect();
        // A check's own time limit is `inter` unless `timeout check` says
        // otherwise: on a loaded machine one `/healthz` slower than 200 ms
        // would take a live replica out. A stopped one refuses at once, so
        // it is still seen down within two checks.
        // Retries: a refused connection (a replica that stopped accepting)
        // and an idle kept-alive connection the replica closed are tried on
        // another replica; `redispatch` lets a retry go elsewhere.
        let config = format!(
            "global\n  maxconn 512\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  \
             timeout server 60s\n  timeout check 5s\n  retries 3\n  option redispatch 1\n  \
             retry-on conn-failure empty-response\n\
             frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend weld\n\
             backend weld\n  balance roundrobin\n  option httpchk GET /healthz\n  \
             http-check expect status 200\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("config");
        let child = tokio::process::Command::new(haproxy_binary())
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn haproxy");
        let url = format!("http://127.0.0.1:{port}/mcp");
        let probe = url.replace("/mcp", "/healthz");
        let http = reqwest_client();
        for _ in 0..200 {
            if http
                .get(&probe)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Self {
                    child,
                    _dir: dir,
                    url,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("haproxy did not start serving {url}");
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One replica: its own state (the same tool installed), its own process.
struct Replica {
    dirs: Dirs,
    child: Child,
    addr: std::net::SocketAddr,
}

/// One replica named `name` (`WELD_REPLICA`, as the manifest passes the
/// pod's name), configured by the file all share.
async fn replica(name: &str, config: &Path) -> Replica {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let mut cmd = dirs.weld();
    cmd.env("WELD_REPLICA", name);
    let config = config.display().to_string();
    let (child, addr) = http_server_with(&dirs, &["--config", &config], cmd).await;
    Replica { dirs, child, addr }
}

/// The configuration every replica starts from (the command line's
/// loopback address wins over its own, as on a developer's machine).
fn shared_config(dir: &Path) -> PathBuf {
    let path = dir.join("weld.toml");
    std::fs::write(
        &path,
        "[serve]\nhttp = \"127.0.0.1:0\"\nallow_host = [\"weld.internal\"]\n\
         shutdown_grace = 20\nmax_instances = 32\n",
    )
    .expect("weld.toml");
    path
}

/// Milliseconds since the epoch.
fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// An audit record's `time` (RFC 3339, UTC, milliseconds: when the call
/// started), in milliseconds since the epoch.
fn record_millis(time: &str) -> u64 {
    let number = |range: std::ops::Range<usize>| -> i64 {
        time[range]
            .parse()
            .unwrap_or_else(|_| panic!("not a record time: {time}"))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19);
    (seconds * 1000 + number(20..23)) as u64
}

async fn echo(http: &reqwest::Client, url: &str, id: u64) -> Result<Value, String> {
    let response = post(
        http,
        url,
        &modern_call(id, "hostile_sleep", json!({"millis": 100})),
        "hostile_sleep",
    )
    .send()
    .await
    .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let reply = message(&body);
    if reply["result"]["isError"] != json!(false) {
        return Err(reply.to_string());
    }
    Ok(reply)
}

/// The replica names in a replica's audit records of hostile_sleep.
fn served_by(replica: &Replica) -> Vec<String> {
    audit_lines(&replica.dirs)
        .into_iter()
        .filter(|r| r["tool"] == "hostile_sleep")
        .map(|r| r["replica"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn calls_spread_over_replicas_behind_haproxy_and_none_fails_while_one_stops() {
    let config_dir = tempfile::tempdir().expect("dir");
    let config = shared_config(config_dir.path());
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(replica(&format!("r{i}"), &config).await);
    }
    let addrs: Vec<_> = replicas.iter().map(|r| r.addr).collect();
    let balancer = Haproxy::start(&addrs).await;
    let http = reqwest_client();

    // Spread: round robin over the three.
    for id in 0..12 {
        echo(&http, &balancer.url, id)
            .await
            .unwrap_or_else(|e| panic!("call {id} failed: {e}"));
    }
    // The audit writer drains in batches; wait for each replica's records.
    for (i, replica) in replicas.iter().enumerate() {
        let name = format!("r{i}");
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen = served_by(replica);
            if !seen.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!seen.is_empty(), "replica {name} served no call");
        assert!(seen.iter().all(|r| *r == name), "{name}: {seen:?}");
    }

    // A long call runs on the replica that will be stopped (sent to it
    // directly, so that it is known to be there and running: nothing else
    // runs there yet).
    let long = {
        let http = http.clone();
        let url = format!("http://{}/mcp", replicas[1].addr);
        tokio::spawn(async move {
            let body = modern_call(99, "hostile_sleep", json!({"millis": 4000}));
            let response = post(&http, &url, &body, "hostile_sleep")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let text = response.text().await.map_err(|e| e.to_string())?;
            Ok::<Value, String>(message(&text))
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while calls_running(replicas[1].addr, "hostile").await != Some(1.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the long call never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Under load, one replica is stopped with SIGTERM: no call fails.
    // Eight clients, each making twelve calls of 100 ms one after another:
    // about 1.2 s of load, with the stop 300 ms in.
    let load: Vec<_> = (0..8u64)
        .map(|client| {
            let (http, url) = (http.clone(), balancer.url.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for call in 0..12 {
                    if let Err(error) = echo(&http, &url, 100 + client * 100 + call).await {
                        failed.push(error);
                    }
                }
                failed
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = replicas[1].child.id().expect("pid").to_string();
    let sent_at = millis(SystemTime::now());
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(sent.success());
    let delivered_by = millis(SystemTime::now());
    let mut failed = Vec::new();
    let mut running = 0;
    for task in load {
        running += usize::from(!task.is_finished());
        failed.extend(task.await.expect("join"));
    }
    assert!(running > 0, "the load was over before the stop");
    assert!(failed.is_empty(), "calls failed: {failed:?}");
    let status = tokio::time::timeout(Duration::from_secs(30), replicas[1].child.wait())
        .await
        .expect("the stopped replica exits")
        .expect("wait");
    assert!(status.success(), "{status}");
    let reply = long.await.expect("join").expect("the long call's answer");
    assert_eq!(reply["result"]["isError"], json!(false), "{reply}");
    // Its audit log says so too: a call that started before the signal
    // was sent and ended, successfully, after it was delivered.
    let spanned = audit_lines(&replicas[1].dirs).into_iter().any(|r| {
        let started = record_millis(r["time"].as_str().unwrap_or_default());
        let took =
            (r["queued_us"].as_u64().unwrap_or(0) + r["duration_us"].as_u64().unwrap_or(0)) / 1000;
        // `time` is cut to the millisecond: the call started before
        // `started + 1` (so before the signal when `started < sent_at`),
        // and ended at or after `started + took`.
        r["outcome"] == "ok" && started < sent_at && started + took > delivered_by
    });
    assert!(
        spanned,
        "no call of r1 spans its SIGTERM: {:?}",
        audit_lines(&replicas[1].dirs)
    );
    // The others keep serving.
    for id in 200..206 {
        echo(&http, &balancer.url, id)
            .await
            .unwrap_or_else(|e| panic!("call {id} after the stop failed: {e}"));
    }
}
