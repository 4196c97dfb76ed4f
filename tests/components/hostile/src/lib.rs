//! `weld-test:hostile`: tools that misbehave on purpose, for weld's tests.
//! Each attack is written so the optimiser cannot remove or shorten it.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

wit_bindgen::generate!({
    world: "hostile",
    path: "wit",
});

struct Hostile;

unsafe extern "C" {
    /// wasi-libc: ends the instance through wasi:cli/exit, without running
    /// C `atexit` handlers (there are none here).
    fn _Exit(code: i32) -> !;
}

/// Size of a WebAssembly memory page.
const WASM_PAGE: usize = 64 * 1024;

/// Writes `bytes` bytes as lines of at most 80 characters (79 + newline).
fn print_lines(out: &mut dyn Write, bytes: u32) -> u32 {
    const LINE: &[u8; 80] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg\n";
    let mut left = bytes as usize;
    let mut written = 0u32;
    while left > 0 {
        let n = left.min(LINE.len());
        // A short last chunk still ends with a newline.
        let result = if n == LINE.len() {
            out.write_all(LINE)
        } else {
            out.write_all(&LINE[..n - 1])
                .and_then(|()| out.write_all(b"\n"))
        };
        if result.is_err() {
            break;
        }
        left -= n;
        written += n as u32;
    }
    let _ = out.flush();
    written
}

/// Non-tail recursion: the addition after the call keeps the frame alive, and
/// black_box stops LLVM from turning the recursion into a loop (accumulator
/// tail-recursion elimination would otherwise do exactly that).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let below = black_box(recurse(black_box(depth - 1)));
    black_box(below + 1)
}

impl Guest for Hostile {
    fn spin() {
        let mut counter = 0u64;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }

    fn spin_for(millis: u64) -> u64 {
        let start = Instant::now();
        let limit = Duration::from_millis(millis);
        let mut iterations = 0u64;
        while start.elapsed() < limit {
            iterations = black_box(iterations + 1);
        }
        iterations
    }

    fn allocate(mebibytes: u32) -> u32 {
        // 4 GiB and more cannot exist in a 32-bit address space: trap.
        let size = (mebibytes as usize)
            .checked_mul(1024 * 1024)
            .expect("cannot allocate 4 GiB or more in wasm32");
        // Grows linear memory; aborts (traps) if the host refuses.
        let mut block = vec![0u8; size];
        let mut pages = 0u32;
        for offset in (0..size).step_by(WASM_PAGE) {
            block[offset] = 1;
            pages += 1;
        }
        black_box(&mut block);
        pages
    }

    fn panic(message: String) {
        panic!("{message}");
    }

    fn recurse(depth: u64) -> u64 {
        recurse(depth)
    }

    fn print_stdout(bytes: u32) -> u32 {
        print_lines(&mut std::io::stdout().lock(), bytes)
    }

    fn print_stderr(bytes: u32) -> u32 {
        print_lines(&mut std::io::stderr().lock(), bytes)
    }

    fn exit(code: u32) {
        // Flush what Rust buffered, as std::process::exit would, then exit
        // through wasi-libc's `_Exit`, which calls wasi:cli/exit.
        //
        // Not std::process::exit: that calls libc's `exit`, and this very
        // function is exported from the core module under the symbol name
        // `exit` (wit-bindgen names world-level exports after the WIT
        // function), which shadows libc's `exit` at link time. The call would
        // land back here and recurse until the stack runs out.
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        unsafe { _Exit(code as i32) }
    }

    fn trap() {
        core::arch::wasm32::unreachable();
    }

    fn huge_output(mebibytes: u32) -> String {
        const LINE: &str = "huge-output: 0123456789abcdefghijklmnopqrstuvwxyz0123456789wxyz\n";
        const _: () = assert!(LINE.len() == 64);
        let size = (mebibytes as usize)
            .checked_mul(1024 * 1024)
            .expect("cannot return 4 GiB or more from wasm32");
        LINE.repeat(size / LINE.len())
    }

    fn echo(text: String) -> String {
        text
    }

    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| e.to_string())
    }

    fn write_file(path: String, contents: String) -> Result<(), String> {
        std::fs::write(&path, contents).map_err(|e| e.to_string())
    }

    fn list_dir(path: String) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&path).map_err(|e| e.to_string())?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn get_env(key: String) -> Option<String> {
        std::env::var(key).ok()
    }

    fn env_keys() -> Vec<String> {
        let mut keys: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }

    fn sleep(millis: u64) {
        std::thread::sleep(Duration::from_millis(millis));
    }
}

export!(Hostile);
