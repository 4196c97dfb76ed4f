//! Long-lived command instances, proved with commands written in WAT: what
//! is a command, how an instance ends, that a busy one never holds the
//! executor, and that it holds its capacity exactly for its life.

use std::sync::Arc;
use std::time::Duration;

use super::{CommandEnd, CommandServer, is_command};
use crate::{CallLimits, Metering, Queue, Runtime, RuntimeConfig, Sandbox};

/// A command whose `run` does what `body` does (core WAT returning the
/// `result` discriminant: 0 is `ok`).
fn command(body: &str) -> Vec<u8> {
    let wat = format!(
        r#"(component
            (core module $m
                (memory (export "memory") 1)
                (func (export "run") (result i32) {body}))
            (core instance $i (instantiate $m))
            (func $run (result (result)) (canon lift (core func $i "run")))
            (instance $run (export "run" (func $run)))
            (export "wasi:cli/run@0.2.0" (instance $run)))"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("bad test WAT: {e}"))
}

fn runtime(cache: &std::path::Path) -> Runtime {
    let mut config = RuntimeConfig::new(cache.to_path_buf());
    config.max_instances = 4;
    config.epoch_tick = Duration::from_millis(5);
    config.cache_key = Some(crate::CacheKey::new([9; 32]));
    Runtime::new(&config).expect("runtime")
}

fn server(runtime: &Runtime, name: &str, body: &str) -> CommandServer {
    let loaded = runtime
        .load(name, Metering::Off, || Ok(command(body)))
        .expect("load");
    CommandServer::new(Arc::new(loaded))
        .expect("a well-formed command")
        .expect("recognised as a command")
}

async fn start(server: &CommandServer) -> super::RunningCommand {
    server
        .start(
            &CallLimits::default(),
            &Sandbox::default(),
            "test",
            Queue::Refuse,
        )
        .await
        .expect("started")
}

/// Waits (without a bound of its own: the test harness has one) until
/// `done` holds, letting the executor run meanwhile.
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const SPIN: &str = "(loop $forever (br $forever)) (unreachable)";

#[test]
fn only_wasi_cli_run_alone_makes_a_command() {
    let run = (Some("wasi:cli/run@0.2.0"), "run");
    assert!(is_command([run]));
    assert!(is_command([(Some("wasi:cli/run@0.2.6"), "run")]));
    assert!(!is_command([]));
    assert!(!is_command([run, (None, "greet")]));
    assert!(!is_command([(
        Some("wasi:cli/run@0.3.0-rc-2025-09-16"),
        "run"
    )]));
    assert!(!is_command([(None, "run")]));
}

#[tokio::test]
async fn a_command_that_returns_and_one_that_traps_say_how_they_ended() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path());
    let mut done = start(&server(&runtime, "returns", "(i32.const 0)"))
        .await
        .watch_end();
    let ended = done.wait_for(Option::is_some).await.expect("ended").clone();
    assert_eq!(ended, Some(CommandEnd::Returned { success: true }));

    let mut trapped = start(&server(&runtime, "traps", "(unreachable)"))
        .await
        .watch_end();
    let ended = trapped
        .wait_for(Option::is_some)
        .await
        .expect("ended")
        .clone();
    match ended {
        Some(end @ CommandEnd::Failed { kind: "trap", .. }) => {
            assert!(end.is_failure());
            assert!(end.to_string().starts_with("it crashed: "), "{end}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

// A current-thread executor: if the spinning guest did not yield at every
// epoch tick, the sleep below would never be polled again.
#[tokio::test(flavor = "current_thread")]
async fn a_busy_command_never_holds_the_executor_and_holds_its_capacity_for_its_life() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path());
    let spinning = server(&runtime, "spins", SPIN);
    let (slots, pages) = (runtime.free_slots(), runtime.free_budget_pages());
    let running = start(&spinning).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(running.end(), None, "it spins on");
    assert_eq!(runtime.free_slots(), slots - 1);
    assert!(runtime.free_budget_pages() < pages);

    drop(running);
    until(|| runtime.idle()).await;
}

#[tokio::test]
async fn a_command_that_cannot_get_capacity_is_refused_and_holds_none() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path());
    let spinning = server(&runtime, "spins", SPIN);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(start(&spinning).await);
    }
    let refused = spinning
        .start(
            &CallLimits::default(),
            &Sandbox::default(),
            "test",
            Queue::Refuse,
        )
        .await;
    assert!(
        matches!(refused, Err(crate::CallError::Busy { .. })),
        "{refused:?}"
    );
    drop(held);
    until(|| runtime.idle()).await;
}

#[tokio::test]
async fn a_component_of_functions_is_not_a_command() {
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime(cache.path());
    let wat = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "f") (canon lift (core func $i "f"))))"#;
    let loaded = runtime
        .load("plain", Metering::Off, || {
            Ok(wat::parse_str(wat).expect("wat"))
        })
        .expect("load");
    assert!(
        CommandServer::new(Arc::new(loaded))
            .expect("no error")
            .is_none()
    );
}
