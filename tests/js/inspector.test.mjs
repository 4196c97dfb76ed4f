// weld driven by the official MCP Inspector in CLI mode, over stdio and
// Streamable HTTP. Run with tests/js/run.sh (node --test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const weld = process.env.WELD_BIN ?? join(repo, "target", "debug", "weld");
const inspector = join(here, "node_modules", ".bin", "mcp-inspector");
const component = (name) => join(repo, "target", "components", `${name}.wasm`);

for (const path of [weld, component("add"), component("text"), component("conformance")]) {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run cargo build and scripts/build-components.sh (scripts/test.sh does both)`);
  }
}

const state = mkdtempSync(join(tmpdir(), "weld-js-"));
const env = {
  ...process.env,
  WELD_STATE_DIR: join(state, "state"),
  WELD_CACHE_DIR: join(state, "cache"),
  WELD_LOG: "warn",
};
// conformance: an MCP-world component (the conformance suite's fixture
// server), for resources, templates and prompts.
const serveArgs = [
  "serve",
  ...["add", "text", "shapes", "clock", "hostile", "conformance"].flatMap((c) => ["--component", component(c)]),
];

/** Runs the Inspector CLI and parses the JSON it prints. */
async function inspect(target, ...args) {
  const { stdout } = await run(inspector, ["--cli", ...target, ...args], {
    env,
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/** Runs the Inspector CLI expecting it to fail; returns its exit code and output. */
async function inspectFailing(target, ...args) {
  try {
    await run(inspector, ["--cli", ...target, ...args], { env, timeout: 60_000 });
  } catch (error) {
    return { code: error.code, stdout: error.stdout };
  }
  assert.fail("the Inspector succeeded where it should have failed");
}

let http;
let url;

before(async () => {
  http = spawn(weld, [...serveArgs, "--http", "127.0.0.1:0"], {
    env: { ...env, WELD_LOG: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  url = await new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`weld did not start: ${log}`)), 60_000);
    http.stderr.on("data", (chunk) => {
      log += chunk;
      const found = log.match(/url=(http:\/\/[^\s]+\/mcp)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    http.on("exit", (code) => reject(new Error(`weld exited with ${code}: ${log}`)));
  });
});

after(() => {
  http?.kill("SIGTERM");
  rmSync(state, { recursive: true, force: true });
});

const targets = {
  // The Inspector starts a stdio server without the test's environment
  // unless told (-e), which would serve the machine's own state directory.
  stdio: () => [
    ...["WELD_STATE_DIR", "WELD_CACHE_DIR"].flatMap((k) => ["-e", `${k}=${env[k]}`]),
    weld,
    ...serveArgs,
  ],
  http: () => [url],
};

for (const [name, target] of Object.entries(targets)) {
  for (const era of ["legacy", "modern"]) {
    const t = () => [...target(), "--protocol-era", era];

    test(`${name}, ${era}: every tool schema passes the Inspector's --strict portability check`, async () => {
      const { tools } = await inspect(t(), "--method", "tools/list", "--strict");
      const names = tools.map((tool) => tool.name);
      for (const expected of ["add_add", "text_slugify", "shapes_geometry_area", "clock_now", "hostile_echo"]) {
        assert.ok(names.includes(expected), `${expected} missing from ${names}`);
      }
      const add = tools.find((tool) => tool.name === "add_add");
      assert.equal(add.inputSchema.properties.a.minimum, -2147483648);
      assert.equal(add.outputSchema.type, "object");
    });

    test(`${name}, ${era}: tools/call returns structured content`, async () => {
      const result = await inspect(t(), "--method", "tools/call", "--tool-name", "add_add", "--tool-arg", "a=2", "b=40");
      assert.equal(result.isError, false);
      assert.deepEqual(result.structuredContent, { result: 42 });
    });

    test(`${name}, ${era}: a tool error is reported as one`, async () => {
      const { code, stdout } = await inspectFailing(t(), "--method", "tools/call", "--tool-name", "add_add", "--tool-arg", "a=two", "b=1");
      // The Inspector's documented exit status for a result with isError: true.
      assert.equal(code, 5);
      assert.match(stdout, /parameter `a`/);
    });

    // The Inspector CLI (2.12.0) has no completion method (its --cli
    // methods stop at prompts/get), so completion is proven by the
    // conformance suite and the Rust tests instead.
    test(`${name}, ${era}: a component's resources and templates are listed and read`, async () => {
      const { resources } = await inspect(t(), "--method", "resources/list");
      assert.deepEqual(
        resources.map((r) => [r.uri, r.mimeType]),
        [
          ["test://static-text", "text/plain"],
          ["test://static-binary", "image/png"],
        ],
      );
      const { resourceTemplates } = await inspect(t(), "--method", "resources/templates/list");
      assert.deepEqual(
        resourceTemplates.map((r) => r.uriTemplate),
        ["test://template/{id}/data"],
      );
      const text = await inspect(t(), "--method", "resources/read", "--uri", "test://static-text");
      assert.deepEqual(text.contents, [
        { uri: "test://static-text", mimeType: "text/plain", text: "This is the content of the static text resource." },
      ]);
      const binary = await inspect(t(), "--method", "resources/read", "--uri", "test://static-binary");
      assert.equal(binary.contents[0].mimeType, "image/png");
      assert.equal(Buffer.from(binary.contents[0].blob, "base64").subarray(1, 4).toString(), "PNG");
      const templated = await inspect(t(), "--method", "resources/read", "--uri", "test://template/42/data");
      assert.deepEqual(JSON.parse(templated.contents[0].text), { id: "42", templateTest: true, data: "Data for ID: 42" });
    });

    test(`${name}, ${era}: a component's prompts are listed and got, with their arguments`, async () => {
      const { prompts } = await inspect(t(), "--method", "prompts/list");
      assert.deepEqual(prompts.map((p) => p.name), [
        "test_simple_prompt",
        "test_prompt_with_arguments",
        "test_prompt_with_embedded_resource",
        "test_prompt_with_image",
      ]);
      const withArguments = prompts.find((p) => p.name === "test_prompt_with_arguments");
      assert.deepEqual(withArguments.arguments.map((a) => [a.name, a.required]), [
        ["arg1", true],
        ["arg2", true],
      ]);
      const got = await inspect(
        t(),
        "--method", "prompts/get",
        "--prompt-name", "test_prompt_with_arguments",
        "--prompt-args", "arg1=hello", "arg2=world",
      );
      assert.deepEqual(got.messages, [
        { role: "user", content: { type: "text", text: "Prompt with arguments: arg1='hello', arg2='world'" } },
      ]);
      const embedded = await inspect(
        t(),
        "--method", "prompts/get",
        "--prompt-name", "test_prompt_with_embedded_resource",
        "--prompt-args", "resourceUri=test://static-text",
      );
      assert.equal(embedded.messages[0].content.type, "resource");
      assert.equal(embedded.messages[0].content.resource.uri, "test://static-text");
    });
  }
}
