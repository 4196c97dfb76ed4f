#!/usr/bin/env python3
"""Scale benchmark: one component installed N times, then `weld serve` over
stdio from spawn to the first `tools/list` answer (until its last byte is
read, before the client parses it), its idle RSS, and the
first call of N distinct not-yet-called components (p50, p99), and how many
tools were listed in how many pages (following every nextCursor).

The component is installed once with `weld add`; the other N-1 names are
copies of its index entry (same digest, so one blob and one compiled
artefact, as `weld add FILE --name NAMEi` would leave them), which keeps
installing 1,000 of them to a second. That is the best case: one
description file and one artefact, read N times from the page cache.

With DISTINCT=1, each of the N is a distinct component instead: the file
with a custom section of its own appended (a different digest, so its own
blob, description and compiled artefact, as N different tools would have),
each installed with `weld add` (the incremental compile cache makes the
compiles after the first quick: 1,000 in 46-49 s on the 2-core machine of
docs/PERFORMANCE.md).

Usage: scripts/scale-bench.py WELD_BIN COMPONENT.wasm TOOL N [N ...]
  e.g. scripts/scale-bench.py target/release/weld target/components/text.wasm slugify 10 100 1000
Env: RUNS (start-ups per N, default 5), CALLS (first calls per N, default 100),
DISTINCT (1: N distinct components, see above).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def leb128(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(wasm, name, payload):
    """`wasm` with a custom section (id 0) appended: valid at the end of a
    component as of a module, and it changes nothing but the digest."""
    body = leb128(len(name)) + name + payload
    return wasm + b"\x00" + leb128(len(body)) + body


def install_distinct(weld, component, n, root, env):
    with open(component, "rb") as f:
        wasm = f.read()
    files = os.path.join(root, "files")
    os.makedirs(files)
    started = time.perf_counter()
    for i in range(n):
        path = os.path.join(files, f"c{i}.wasm")
        with open(path, "wb") as f:
            f.write(with_custom_section(wasm, b"weld-scale-bench", str(i).encode()))
        subprocess.run([weld, "add", path, "--name", f"c{i}"], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(f"N={n}: {n} distinct components installed in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return env


def install(weld, component, n, root):
    state, cache = os.path.join(root, "state"), os.path.join(root, "cache")
    env = dict(os.environ, WELD_STATE_DIR=state, WELD_CACHE_DIR=cache)
    if os.environ.get("DISTINCT") == "1":
        return install_distinct(weld, component, n, root, env)
    subprocess.run([weld, "add", component, "--name", "c0"], env=env, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index_path = os.path.join(state, "index.json")
    with open(index_path) as f:
        index = json.load(f)
    first = index["components"]["c0"]
    for i in range(1, n):
        index["components"][f"c{i}"] = dict(first)
    tmp = index_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(index, f)
    os.chmod(tmp, 0o600)
    os.rename(tmp, index_path)
    return env


def cpu_ms(pid):
    """CPU time of all of the process's threads so far (schedstat: ns)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e6


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, weld, env):
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen([weld, "serve"], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 1

    def request(self, method, params=None):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            # When the answer's last byte arrived: what the client parses
            # after that is the client's time, not weld's.
            self.received = time.perf_counter()
            if not line:
                raise RuntimeError("weld exited")
            reply = json.loads(line)
            if reply.get("id") == rid:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def notify(self, method):
        self.p.stdin.write((json.dumps({"jsonrpc": "2.0", "method": method}) + "\n").encode())
        self.p.stdin.flush()

    def start(self):
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "scale-bench", "version": "0"}})
        self.notify("notifications/initialized")
        tools, cursor = [], None
        first = None
        self.pages = 0
        while True:
            page = self.request("tools/list", {"cursor": cursor} if cursor else {})
            if first is None:
                first = self.received - self.t0
                self.cpu = cpu_ms(self.p.pid)
            self.pages += 1
            tools.extend(page["tools"])
            cursor = page.get("nextCursor")
            if not cursor:
                return first, tools

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def pct(values, p):
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main():
    weld, component, tool, *ns = sys.argv[1:]
    runs, calls = int(os.environ.get("RUNS", 5)), int(os.environ.get("CALLS", 100))
    args = json.loads(os.environ.get("ARGS", '{"text": "Hello, World"}'))
    for n in map(int, ns):
        root = tempfile.mkdtemp(prefix=f"weld-scale-{n}-")
        try:
            env = install(weld, component, n, root)
            firsts, rss, cpus = [], [], []
            for run in range(runs + 1):
                s = Server(weld, env)
                first, tools = s.start()
                names = {t["name"] for t in tools}
                listed = [i for i in range(n) if f"c{i}_{tool}" in names]
                time.sleep(0.5)
                if run > 0:  # the first run warms the page cache
                    firsts.append(first * 1000)
                    cpus.append(s.cpu)
                    rss.append(rss_kib(s.p.pid) / 1024)
                s.stop()
            s = Server(weld, env)
            _, tools = s.start()
            pages = s.pages
            latencies = []
            for i in listed[:calls]:
                t = time.perf_counter()
                result = s.request("tools/call", {"name": f"c{i}_{tool}", "arguments": args})
                latencies.append((time.perf_counter() - t) * 1000)
                if result.get("isError"):
                    raise RuntimeError(f"call failed: {result}")
            again = []
            for i in listed[:calls]:
                t = time.perf_counter()
                s.request("tools/call", {"name": f"c{i}_{tool}", "arguments": args})
                again.append((time.perf_counter() - t) * 1000)
            rss_after = rss_kib(s.p.pid) / 1024
            s.stop()
            print(f"N={n}: start->first tools/list median {statistics.median(firsts):.1f} ms "
                  f"(min {min(firsts):.1f}, max {max(firsts):.1f}; CPU {statistics.median(cpus):.0f} ms); {len(listed)} of {n} listed "
                  f"({len(tools)} tools in {pages} pages); idle RSS median "
                  f"{statistics.median(rss):.1f} MB; first call p50 {pct(latencies, 50):.2f} ms "
                  f"p99 {pct(latencies, 99):.2f} ms; second call p50 {pct(again, 50):.2f} ms "
                  f"p99 {pct(again, 99):.2f} ms; RSS after {len(latencies)} components called "
                  f"{rss_after:.1f} MB", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
