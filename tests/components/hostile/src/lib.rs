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

    fn raw_fs(preopen: String, op: String, path: String, other: String) -> Result<String, String> {
        raw_fs(&preopen, &op, &path, &other)
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

    fn http_get(url: String) -> Result<String, String> {
        http_get(&url)
    }

    fn tcp_send(address: String, text: String) -> Result<String, String> {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&address).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        stream.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| e.to_string())?;
        Ok(answer)
    }

    fn udp_send(address: String, text: String) -> Result<String, String> {
        // No read timeout: WASI sockets have none (the call's own deadline
        // ends a wait for an answer that never comes).
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        socket
            .send_to(text.as_bytes(), &address)
            .map_err(|e| e.to_string())?;
        let mut buffer = [0u8; 1024];
        let (len, _) = socket.recv_from(&mut buffer).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buffer[..len]).into_owned())
    }

    fn resolve(name: String) -> Result<Vec<String>, String> {
        use std::net::ToSocketAddrs;
        let addrs = (name.as_str(), 0)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?;
        Ok(addrs.map(|a| a.ip().to_string()).collect())
    }
}

/// A GET through wasi:http's outgoing handler. Errors are the WASI error
/// code's debug text (`HttpRequestDenied`, `DestinationIpProhibited`, …),
/// which the tests match on.
fn http_get(url: &str) -> Result<String, String> {
    use wasi::http::types::{Fields, IncomingBody, Method, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;

    let (scheme, rest) = url.split_once("://").ok_or("the URL needs a scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    let set = request
        .set_method(&Method::Get)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path)));
    set.map_err(|()| format!("the URL {url} is not a valid request"))?;
    let pending =
        wasi::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "the response was already taken")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the body failed: {}", e.to_debug_string()));
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(body);
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

export!(Hostile);

/// See `raw-fs` in the WIT: each operation is one wasi:filesystem call (or
/// two, where the second is the attack), with no libc path handling between.
fn raw_fs(preopen: &str, op: &str, path: &str, other: &str) -> Result<String, String> {
    use wasi::filesystem::types::{
        Descriptor, DescriptorFlags, ErrorCode, NewTimestamp, OpenFlags, PathFlags,
    };
    let code = |e: ErrorCode| e.name().to_string();
    let (dir, _) = wasi::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, name)| name == preopen)
        .ok_or_else(|| format!("no preopen named {preopen}"))?;
    let read_all = |file: &Descriptor| -> Result<String, String> {
        let (data, _) = file.read(1 << 20, 0).map_err(code)?;
        Ok(String::from_utf8_lossy(&data).into_owned())
    };
    let list = |d: &Descriptor| -> Result<String, String> {
        let stream = d.read_directory().map_err(code)?;
        let mut names = Vec::new();
        while let Some(entry) = stream.read_directory_entry().map_err(code)? {
            names.push(entry.name);
        }
        names.sort();
        Ok(names.join(","))
    };
    let none = PathFlags::empty();
    match op {
        "read" | "read-follow" => {
            let flags = if op == "read" { none } else { PathFlags::SYMLINK_FOLLOW };
            let file = dir
                .open_at(flags, path, OpenFlags::empty(), DescriptorFlags::READ)
                .map_err(code)?;
            read_all(&file)
        }
        "write" => {
            let file = dir
                .open_at(
                    none,
                    path,
                    OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    DescriptorFlags::WRITE,
                )
                .map_err(code)?;
            file.write(other.as_bytes(), 0).map_err(code)?;
            Ok("written".into())
        }
        "write-through-read" => {
            let file = dir
                .open_at(none, path, OpenFlags::empty(), DescriptorFlags::READ)
                .map_err(code)?;
            file.set_size(0).map_err(code)?;
            file.write(other.as_bytes(), 0).map_err(code)?;
            Ok("written".into())
        }
        "stat-self" => {
            let s = dir.stat().map_err(code)?;
            Ok(format!(
                "links={} size={} mtime={}",
                s.link_count,
                s.size,
                s.data_modification_timestamp
                    .map_or("none".to_string(), |t| t.seconds.to_string())
            ))
        }
        "flags-self" => {
            let flags = dir.get_flags().map_err(code)?;
            Ok(format!(
                "read={} mutate={}",
                flags.contains(DescriptorFlags::READ),
                flags.contains(DescriptorFlags::MUTATE_DIRECTORY)
            ))
        }
        "touch-through-read" => {
            let file = dir
                .open_at(none, path, OpenFlags::empty(), DescriptorFlags::READ)
                .map_err(code)?;
            file.set_times(NewTimestamp::Now, NewTimestamp::Now)
                .map_err(code)?;
            Ok("touched".into())
        }
        "open-dir" => {
            let sub = dir
                .open_at(none, path, OpenFlags::DIRECTORY, DescriptorFlags::READ)
                .map_err(code)?;
            list(&sub)
        }
        "stat" => Ok(dir.stat_at(none, path).map_err(code)?.size.to_string()),
        "list" => list(&dir),
        "mkdir" => dir.create_directory_at(path).map(|()| "made".into()).map_err(code),
        "unlink" => dir.unlink_file_at(path).map(|()| "unlinked".into()).map_err(code),
        "rename" => dir
            .rename_at(path, &dir, other)
            .map(|()| "renamed".into())
            .map_err(code),
        "symlink" => dir
            .symlink_at(other, path)
            .map(|()| "linked".into())
            .map_err(code),
        "rename-into" | "link-into" => {
            // `other` is `PREOPEN|PATH`: the destination in another preopen.
            let (to_preopen, to_path) = other
                .split_once('|')
                .ok_or("other must be PREOPEN|PATH")?;
            let (to, _) = wasi::filesystem::preopens::get_directories()
                .into_iter()
                .find(|(_, name)| name == to_preopen)
                .ok_or_else(|| format!("no preopen named {to_preopen}"))?;
            if op == "rename-into" {
                dir.rename_at(path, &to, to_path).map_err(code)?;
            } else {
                dir.link_at(none, path, &to, to_path).map_err(code)?;
            }
            Ok("moved".into())
        }
        "hash-self" => dir
            .metadata_hash()
            .map(|h| format!("{:x}{:x}", h.upper, h.lower))
            .map_err(code),
        "link" => dir
            .link_at(none, path, &dir, other)
            .map(|()| "linked".into())
            .map_err(code),
        "readlink" => dir.readlink_at(path).map_err(code),
        "rmdir" => dir
            .remove_directory_at(path)
            .map(|()| "removed".into())
            .map_err(code),
        "hash" => dir
            .metadata_hash_at(none, path)
            .map(|h| format!("{:x}{:x}", h.upper, h.lower))
            .map_err(code),
        "touch-dir" => dir
            .set_times(NewTimestamp::Now, NewTimestamp::Now)
            .map(|()| "touched".into())
            .map_err(code),
        "set-times" => dir
            .set_times_at(none, path, NewTimestamp::Now, NewTimestamp::Now)
            .map(|()| "touched".into())
            .map_err(code),
        _ => Err(format!("unknown op {op}")),
    }
}
