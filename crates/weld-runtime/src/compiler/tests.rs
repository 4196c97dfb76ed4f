//! The parent's side of a compiler process, against stand-in children (a
//! shell script per outcome), and the child's engine matching the parent's.

use std::time::Duration;

use super::*;

fn script(body: &str, timeout: Duration) -> CompilerProcess {
    CompilerProcess {
        program: "/bin/sh".into(),
        // `$0` for the script; the compiler's own arguments follow.
        args: vec!["-c".into(), body.into(), "compiler".into()],
        limits: CompileLimits {
            timeout,
            memory: 64 * 1024 * 1024,
        },
    }
}

fn run(body: &str, timeout: Duration) -> Result<Vec<u8>, RuntimeError> {
    script(body, timeout)
        .compile("0123", Metering::Off, None, b"\0asm")
        .map(|compiled| compiled.artefact)
}

#[test]
fn a_compiler_that_does_not_answer_in_time_is_stopped_with_the_time_limit() {
    // `exec`, so the process killed is the one holding the pipes.
    let error = run("exec sleep 60", Duration::from_millis(200)).expect_err("stopped");
    assert!(
        matches!(
            error,
            RuntimeError::CompileLimit(CompileLimit::Time(t)) if t == Duration::from_millis(200)
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("--compile-timeout"), "{error}");
}

#[test]
fn the_cpu_time_backstop_is_the_time_limit_too() {
    let error = run("kill -XCPU $$", Duration::from_secs(30)).expect_err("stopped");
    assert!(
        matches!(error, RuntimeError::CompileLimit(CompileLimit::Time(_))),
        "{error:?}"
    );
}

#[test]
fn an_allocation_failure_or_a_memory_exit_is_the_memory_limit() {
    for body in ["kill -ABRT $$", "exit 42"] {
        let error = run(body, Duration::from_secs(30)).expect_err("stopped");
        assert!(
            matches!(
                error,
                RuntimeError::CompileLimit(CompileLimit::Memory(m)) if m == 64 * 1024 * 1024
            ),
            "{body}: {error:?}"
        );
        assert!(
            error.to_string().contains("--compile-memory-mib"),
            "{error}"
        );
    }
}

#[test]
fn a_component_wasmtime_rejects_is_a_compile_error_with_its_reason() {
    let error = run(
        "cat >/dev/null; echo 'bad magic number'; exit 41",
        Duration::from_secs(30),
    )
    .expect_err("rejected");
    assert!(
        matches!(&error, RuntimeError::Compile { source } if source.to_string() == "bad magic number"),
        "{error:?}"
    );
}

#[test]
fn the_artefact_comes_back_only_for_this_engine() {
    let answer = |key: &str| format!("cat >/dev/null; printf 'weld-artefact {key}\\nARTEFACT'");
    let artefact = run(&answer("0123"), Duration::from_secs(30)).expect("answered");
    assert_eq!(artefact, b"ARTEFACT");
    let error = run(&answer("4567"), Duration::from_secs(30)).expect_err("another engine");
    assert!(matches!(error, RuntimeError::Compiler { .. }), "{error:?}");
}

#[test]
fn the_compiler_process_gets_the_component_and_its_limits() {
    let echo = "printf 'weld-artefact 0123\\n'; printf '%s %s %s ' \"$1\" \"$2\" \"$3\"; cat";
    let artefact = run(echo, Duration::from_secs(30)).expect("answered");
    let expected = format!(
        "off {} {}",
        64 * 1024 * 1024,
        cpu_seconds(Duration::from_secs(30))
    );
    assert_eq!(artefact, format!("{expected} \0asm").into_bytes());
}

#[test]
fn the_compiler_process_gets_the_incremental_store_with_its_key_on_stdin() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = IncrementalStore::new(CacheKey::new([b'k'; 32]), 12345);
    store.bind(tmp.path().join("incremental.store"), "0123".into());
    // The arguments after the limits, then stdin: the key, the component.
    let echo = "printf 'weld-artefact 0123\\n'; printf '%s|%s|' \"$4\" \"$5\"; cat";
    let compiled = script(echo, Duration::from_secs(30))
        .compile("0123", Metering::Off, Some(&store), b"\0asm")
        .expect("answered");
    let expected = format!(
        "12345|{}|{}\0asm",
        tmp.path().join("incremental.store").display(),
        "k".repeat(32)
    );
    assert_eq!(compiled.artefact, expected.into_bytes());
    assert!(compiled.reuse.is_none(), "no counts were sent");
}

#[test]
fn the_reuse_counts_come_back_with_the_artefact() {
    let answer =
        "cat >/dev/null; printf 'weld-artefact 0123 hits=5 misses=2 rejected=1 stored=2\\nART'";
    let compiled = script(answer, Duration::from_secs(30))
        .compile("0123", Metering::Off, None, b"\0asm")
        .expect("answered");
    assert_eq!(compiled.artefact, b"ART");
    assert_eq!(
        compiled.reuse,
        Some(IncrementalStats {
            hits: 5,
            misses: 2,
            rejected: 1,
            stored: 2
        })
    );
    // The engine key is a whole word: a longer one is another engine.
    let longer = "cat >/dev/null; printf 'weld-artefact 01234 hits=5\\nART'";
    let error = run(longer, Duration::from_secs(30)).expect_err("another engine");
    assert!(matches!(error, RuntimeError::Compiler { .. }), "{error:?}");
}

#[test]
fn a_crash_is_a_compiler_failure_not_a_limit() {
    let error = run("kill -SEGV $$", Duration::from_secs(30)).expect_err("crashed");
    assert!(matches!(error, RuntimeError::Compiler { .. }), "{error:?}");
    let error = run("exit 101", Duration::from_secs(30)).expect_err("panicked");
    assert!(matches!(error, RuntimeError::Compiler { .. }), "{error:?}");
}

#[test]
fn the_compiler_engine_makes_artefacts_the_pooled_engine_accepts() {
    for metering in [Metering::Off, Metering::Fuel] {
        let child = compile_engine(metering).expect("compile engine");
        let config = engine_config(crate::capacity::PoolShape::new(4), metering).expect("config");
        let parent = Engine::new(&config).expect("pooled engine");
        assert_eq!(
            cache::engine_key(&child),
            cache::engine_key(&parent),
            "{metering:?}"
        );
        let wasm = wat::parse_str(
            r#"(component
                (core module $m (func (export "f") (result i32) i32.const 7))
                (core instance $i (instantiate $m))
                (func (export "f") (result u32) (canon lift (core func $i "f"))))"#,
        )
        .expect("wat");
        let artefact = child.precompile_component(&wasm).expect("compile");
        #[allow(
            unsafe_code,
            reason = "loading what the compiler engine built is what the test is about"
        )]
        // SAFETY: `artefact` was just produced by `precompile_component`;
        // this is the compatibility the test is about.
        let loaded = unsafe { wasmtime::component::Component::deserialize(&parent, &artefact) };
        loaded.expect("the pooled engine loads what the compiler engine built");
    }
}
