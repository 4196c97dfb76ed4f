"""Interoperability tests: weld driven by the official MCP Python SDK (mcp==2.3.0).

Every client-side test runs over both transports (stdio, Streamable HTTP) and both
connection modes of `mcp.client.client.Client`:

* ``legacy`` - the ``initialize`` handshake (protocol 2025-11-25 and earlier);
* ``auto``   - ``server/discover`` first (protocol 2026-07-28), falling back to ``initialize``.

weld is started once per test module and connection (stdio: the SDK spawns it; HTTP: one
server per module that every HTTP connection shares), with fresh temporary state and cache
directories, and stopped at the end. All servers run with ``--timeout 3`` so that
``hostile_spin`` is cut off soon, while a call that only waits for a busy machine is not.

Environment: ``WELD_BIN`` overrides the weld binary (default ``target/debug/weld`` under the
repository root). The components come from ``target/components`` (scripts/build-components.sh).
"""

from __future__ import annotations

import json
import logging
import os
import re
import selectors
import socket
import subprocess
import time
from datetime import datetime
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2  # the HTTP client the SDK itself depends on (mcp 2.x uses httpx2, not httpx)
import jsonschema
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, REQUEST_TIMEOUT, CallToolResult, TextContent, Tool
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
WELD_BIN = Path(os.environ.get("WELD_BIN") or REPO_ROOT / "target" / "debug" / "weld")
COMPONENTS_DIR = REPO_ROOT / "target" / "components"
COMPONENTS = ("add", "text", "shapes", "clock", "hostile")
CALL_TIMEOUT_SECONDS = 3  # weld serve --timeout
READ_TIMEOUT_SECONDS = 30.0  # the SDK's per-request timeout: no test may hang
BUILD_HINT = (
    "build them first: `cargo build` (the weld binary) and `scripts/build-components.sh` "
    "(the components in target/components), or point WELD_BIN at a weld binary"
)

# Tools these tests rely on, with the components that provide them.
EXPECTED_TOOLS = {
    "add_add",
    "text_slugify",
    "text_word-count",
    "text_wrap",
    "text_json-pointer",
    "text_find-all",
    "text_convert-case",
    "shapes_version",
    "shapes_checksum",
    "shapes_geometry_area",
    "shapes_geometry_classify",
    "shapes_geometry_bounding-box",
    "clock_now",
    "clock_format-rfc3339",
    "hostile_spin",
    "hostile_echo",
    "hostile_panic",
    "hostile_allocate",
    "hostile_print-stdout",
    "hostile_print-stderr",
    "hostile_huge-output",
    "hostile_sleep",
}

CONNECTIONS = [("stdio", "legacy"), ("stdio", "auto"), ("http", "legacy"), ("http", "auto")]
CONNECTION_IDS = [f"{transport}-{mode}" for transport, mode in CONNECTIONS]


# --------------------------------------------------------------------------- helpers


def component_args() -> list[str]:
    args: list[str] = []
    for name in COMPONENTS:
        args += ["--component", str(COMPONENTS_DIR / f"{name}.wasm")]
    return args


def serve_args(*extra: str) -> list[str]:
    return ["serve", "--timeout", str(CALL_TIMEOUT_SECONDS), *extra, *component_args()]


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def describe(result: CallToolResult) -> str:
    return json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))[:2000]


def validate(instance: Any, schema: dict[str, Any], what: str) -> None:
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    errors = sorted(validator_cls(schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{what} does not match its schema: {[e.message for e in errors]}\ninstance: {instance!r}"


def is_valid(instance: Any, schema: dict[str, Any]) -> bool:
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return validator_cls(schema).is_valid(instance)


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass
class Conn:
    """One live SDK client connected to weld, plus what it observed on the side."""

    transport: str
    mode: str
    client: Client
    log: Path | None
    # Transport-level exceptions the SDK handed to message_handler: on stdio, a line on weld's
    # stdout that is not a JSON-RPC message shows up here (the SDK does not raise for it).
    stray: list[Exception] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    _tools: dict[str, Tool] | None = None

    async def tools(self) -> dict[str, Tool]:
        if self._tools is None:
            listing = await self.client.list_tools()
            assert listing.next_cursor is None, "tools/list paginated unexpectedly"
            self._tools = {tool.name: tool for tool in listing.tools}
        return self._tools

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        """Call a tool as is: no checks (for calls that are meant to fail)."""
        return await self.client.call_tool(name, arguments)

    async def call_ok(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        tool = (await self.tools())[name]
        validate(arguments, tool.input_schema, f"arguments for {name}")
        result = await self.call(name, arguments)
        assert not result.is_error, f"{name} failed: {describe(result)}"
        if tool.output_schema is not None:
            assert result.structured_content is not None, f"{name} has an outputSchema but no structuredContent"
            validate(result.structured_content, tool.output_schema, f"structuredContent of {name}")
        return result


@asynccontextmanager
async def connect(
    transport: str, mode: str, env: dict[str, str], http_url: str, log_dir: Path
) -> AsyncIterator[Conn]:
    """Connect an SDK Client to weld over `transport` in `mode`."""
    log: Path | None = None
    holder: list[Conn] = []
    pending: list[Any] = []

    async def on_message(message: Any) -> None:
        target = holder[0] if holder else None
        if isinstance(message, Exception):
            (target.stray if target else pending).append(message)
        elif target is not None:
            target.notifications.append(message)
        await anyio.lowlevel.checkpoint()

    if transport == "stdio":
        log = log_dir / f"weld-stdio-{mode}-{time.monotonic_ns()}.log"
        errlog = open(log, "w")  # noqa: SIM115 - must stay open while weld runs
        params = StdioServerParameters(command=str(WELD_BIN), args=serve_args(), env=env)
        server: Any = stdio_client(params, errlog=errlog)
    else:
        errlog = None
        server = http_url
    try:
        async with Client(
            server, mode=mode, read_timeout_seconds=READ_TIMEOUT_SECONDS, message_handler=on_message
        ) as client:
            conn = Conn(transport=transport, mode=mode, client=client, log=log)
            conn.stray.extend(e for e in pending if isinstance(e, Exception))
            holder.append(conn)
            yield conn
    finally:
        if errlog is not None:
            errlog.close()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def weld_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Check the prerequisites and give weld fresh state and cache directories."""
    if not (WELD_BIN.is_file() and os.access(WELD_BIN, os.X_OK)):
        pytest.fail(f"weld binary not found or not executable at {WELD_BIN}: {BUILD_HINT}", pytrace=False)
    missing = [str(COMPONENTS_DIR / f"{n}.wasm") for n in COMPONENTS if not (COMPONENTS_DIR / f"{n}.wasm").is_file()]
    if missing:
        pytest.fail(f"components missing: {', '.join(missing)}: {BUILD_HINT}", pytrace=False)
    env = {
        "WELD_STATE_DIR": str(tmp_path_factory.mktemp("weld-state")),
        "WELD_CACHE_DIR": str(tmp_path_factory.mktemp("weld-cache")),
        "NO_COLOR": "1",
    }
    return env


def full_env(weld_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WELD_", "XDG_STATE", "XDG_CACHE"))}
    env.update(weld_env)
    return env


@dataclass
class HttpServer:
    url: str
    base: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def http_server(weld_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """`weld serve --http 127.0.0.1:0`; waits for its URL in the log and for the port to answer."""
    log_dir = tmp_path_factory.mktemp("weld-http")
    log = log_dir / "weld-http.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [str(WELD_BIN), *serve_args("--http", "127.0.0.1:0")],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env=full_env(weld_env),
        )
    try:
        url = None
        deadline = time.monotonic() + 60
        pattern = re.compile(r"serving MCP over HTTP.*?url=(http://\S+/mcp)")
        while url is None:
            match = pattern.search(log.read_text(errors="replace"))
            if match:
                url = match.group(1)
                break
            if proc.poll() is not None:
                pytest.fail(f"weld serve --http exited with {proc.returncode}:\n{log_tail(log)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"weld serve --http did not report its URL within 60 s:\n{log_tail(log)}", pytrace=False)
            time.sleep(0.05)
        port = int(re.search(r":(\d+)/mcp$", url).group(1))  # type: ignore[union-attr]
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"weld's HTTP port {port} never answered:\n{log_tail(log)}", pytrace=False)
                time.sleep(0.05)
        yield HttpServer(url=url, base=url.removesuffix("/mcp"), port=port, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module", params=CONNECTIONS, ids=CONNECTION_IDS)
async def conn(
    request: pytest.FixtureRequest,
    weld_env: dict[str, str],
    http_server: HttpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Conn]:
    transport, mode = request.param
    log_dir = tmp_path_factory.mktemp("weld-logs")
    async with connect(transport, mode, weld_env, http_server.url, log_dir) as c:
        yield c


@pytest.fixture(scope="module")
def inspected(weld_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What `weld inspect --json` says each component offers, by tool name."""
    tools: dict[str, dict[str, Any]] = {}
    for name in COMPONENTS:
        out = subprocess.run(
            [str(WELD_BIN), "inspect", "--json", str(COMPONENTS_DIR / f"{name}.wasm")],
            capture_output=True,
            env=full_env(weld_env),
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, f"weld inspect {name} failed: {out.stderr.decode(errors='replace')}"
        for tool in json.loads(out.stdout)["tools"]:
            tools[tool["name"]] = tool
    return tools


# --------------------------------------------------------------------------- MCP client tests


@pytest.mark.anyio
async def test_negotiated_protocol(conn: Conn) -> None:
    version = conn.client.protocol_version
    if conn.mode == "legacy":
        assert version in HANDSHAKE_PROTOCOL_VERSIONS, version
        assert conn.client.server_info is not None and conn.client.server_info.name == "weld"
    else:
        # weld implements server/discover, so auto mode must not fall back to the handshake.
        assert version in MODERN_PROTOCOL_VERSIONS, f"auto mode negotiated {version}"
    assert conn.client.server_capabilities.tools is not None, "weld must advertise the tools capability"


@pytest.mark.anyio
async def test_list_tools(conn: Conn) -> None:
    tools = await conn.tools()
    missing = EXPECTED_TOOLS - tools.keys()
    assert not missing, f"tools missing from tools/list: {sorted(missing)}"
    for name, tool in tools.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name), f"tool name {name!r} is not a valid MCP tool name"
        assert tool.description and tool.description.strip(), f"{name} has no description"
        assert isinstance(tool.input_schema, dict) and tool.input_schema.get("type") == "object", (
            f"{name}: inputSchema must be an object schema, got {tool.input_schema!r}"
        )
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        if tool.output_schema is not None:
            assert tool.output_schema.get("type") == "object", (
                f"{name}: outputSchema must be an object schema, got {tool.output_schema!r}"
            )
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)


@pytest.mark.anyio
async def test_tools_match_weld_inspect(conn: Conn, inspected: dict[str, dict[str, Any]]) -> None:
    """tools/list offers exactly what `weld inspect` describes (names, descriptions, schemas),
    besides weld's five built-in tools."""
    tools = dict(await conn.tools())
    builtin = sorted(name for name in tools if name.startswith("weld_"))
    assert builtin == [
        "weld_list_components",
        "weld_request_grant",
        "weld_request_install",
        "weld_revoke",
        "weld_show_policy",
    ]
    for name in builtin:
        del tools[name]
    assert sorted(tools) == sorted(inspected)
    for name, tool in tools.items():
        expected = inspected[name]
        assert tool.description == expected.get("description"), name
        assert tool.input_schema == expected["inputSchema"], name
        assert tool.output_schema == expected.get("outputSchema"), name


@pytest.mark.anyio
async def test_add(conn: Conn) -> None:
    result = await conn.call_ok("add_add", {"a": 2, "b": 3})
    assert result.structured_content == {"result": 5}
    # The text block carries the same value, serialized as JSON, for clients without structuredContent.
    assert json.loads(text_of(result)) == {"result": 5}


@pytest.mark.anyio
async def test_add_wraps_on_overflow(conn: Conn) -> None:
    result = await conn.call_ok("add_add", {"a": 2147483647, "b": 1})
    assert result.structured_content == {"result": -2147483648}


@pytest.mark.anyio
async def test_word_count_returns_record(conn: Conn) -> None:
    result = await conn.call_ok("text_word-count", {"text": "héllo wörld\nzwei Zeilen\n"})
    # A record result is the structuredContent object itself, not wrapped in {"result": ...}.
    assert result.structured_content == {"words": 4, "lines": 2, "chars": 24, "bytes": 26}


@pytest.mark.anyio
async def test_string_result(conn: Conn) -> None:
    result = await conn.call_ok("text_slugify", {"text": "Héllo, Wörld!"})
    assert result.structured_content == {"result": "hello-world"}


@pytest.mark.anyio
async def test_wrong_argument_type_is_tool_error(conn: Conn) -> None:
    tool = (await conn.tools())["add_add"]
    arguments = {"a": "two", "b": 3}
    assert not is_valid(arguments, tool.input_schema), "the advertised inputSchema should reject these arguments"
    result = await conn.call("add_add", arguments)
    assert result.is_error, f"expected isError for a string where an s32 belongs: {describe(result)}"
    assert re.search(r"[`'\"]a[`'\"]", text_of(result)), f"error does not name parameter `a`: {text_of(result)!r}"


@pytest.mark.anyio
async def test_missing_and_unknown_arguments_are_tool_errors(conn: Conn) -> None:
    result = await conn.call("add_add", {"a": 1})
    assert result.is_error and re.search(r"[`'\"]b[`'\"]", text_of(result)), describe(result)
    result = await conn.call("add_add", {"a": 1, "b": 2, "c": 3})
    assert result.is_error and re.search(r"[`'\"]c[`'\"]", text_of(result)), describe(result)


@pytest.mark.anyio
async def test_unknown_tool_is_protocol_error(conn: Conn) -> None:
    with pytest.raises(MCPError) as excinfo:
        await conn.call("no_such_tool", {})
    assert excinfo.value.code == INVALID_PARAMS, f"expected -32602, got {excinfo.value.code}: {excinfo.value}"
    # The connection is still usable afterwards.
    await conn.call_ok("add_add", {"a": 1, "b": 1})


@pytest.mark.anyio
async def test_classify(conn: Conn) -> None:
    result = await conn.call_ok("shapes_geometry_classify", {"shape": {"circle": 1.0}})
    # The value is one of the enum cases (the outputSchema check in call_ok enforces that).
    assert isinstance(result.structured_content["result"], str)


@pytest.mark.anyio
async def test_classify_negative_radius_is_tool_error(conn: Conn) -> None:
    arguments = {"shape": {"circle": -2.5}}
    validate(arguments, (await conn.tools())["shapes_geometry_classify"].input_schema, "arguments")
    result = await conn.call("shapes_geometry_classify", arguments)
    assert result.is_error, f"an err(...) result must give isError: {describe(result)}"
    assert "negative-radius" in text_of(result), describe(result)
    assert result.structured_content is None, "an error result must not carry structuredContent"


@pytest.mark.anyio
async def test_special_floats(conn: Conn) -> None:
    result = await conn.call_ok("shapes_geometry_area", {"shape": {"circle": "Infinity"}})
    assert result.structured_content == {"result": "Infinity"}
    result = await conn.call_ok("shapes_geometry_bounding-box", {"points": []})
    assert result.structured_content == {"result": None}


@pytest.mark.anyio
async def test_spin_is_stopped_by_timeout_and_server_keeps_serving(conn: Conn) -> None:
    started = time.monotonic()
    spin: dict[str, Any] = {}
    echo_done_at: list[float] = []

    async def run_spin() -> None:
        spin["result"] = await conn.call("hostile_spin", {})
        spin["at"] = time.monotonic()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_spin)
        await anyio.sleep(0.2)
        # While the guest spins, other calls on the same connection are still served.
        echo = await conn.call_ok("hostile_echo", {"text": "still here"})
        echo_done_at.append(time.monotonic())
        assert echo.structured_content == {"result": "still here"}

    result: CallToolResult = spin["result"]
    elapsed = spin["at"] - started
    assert result.is_error, f"hostile_spin should fail at the time limit: {describe(result)}"
    text = text_of(result)
    assert "limit" in text and re.search(rf"\b{CALL_TIMEOUT_SECONDS}\b", text), (
        f"error should mention the {CALL_TIMEOUT_SECONDS}-second limit: {text!r}"
    )
    assert CALL_TIMEOUT_SECONDS * 0.8 <= elapsed < CALL_TIMEOUT_SECONDS + 10, f"spin stopped after {elapsed:.2f}s"
    assert echo_done_at[0] < spin["at"], "hostile_echo waited for hostile_spin to finish"
    # And afterwards the server is still serving normally.
    after = await conn.call_ok("add_add", {"a": 40, "b": 2})
    assert after.structured_content == {"result": 42}


@pytest.mark.anyio
async def test_guest_failures_are_tool_errors(conn: Conn) -> None:
    result = await conn.call("hostile_panic", {"message": "kaboom"})
    assert result.is_error and "kaboom" in text_of(result), describe(result)
    result = await conn.call("hostile_allocate", {"mebibytes": 1024})
    assert result.is_error and "memory" in text_of(result).lower(), describe(result)
    await conn.call_ok("hostile_echo", {"text": "ok"})


@pytest.mark.anyio
async def test_guest_stdout_stays_off_the_channel(conn: Conn) -> None:
    before = len(conn.stray)
    result = await conn.call_ok("hostile_print-stdout", {"bytes": 100_000})
    assert result.structured_content == {"result": 100_000}
    result = await conn.call_ok("hostile_print-stderr", {"bytes": 10_000})
    assert result.structured_content == {"result": 10_000}
    # The next request/response round trip must still be clean.
    assert (await conn.call_ok("hostile_echo", {"text": "after"})).structured_content == {"result": "after"}
    assert conn.stray[before:] == [], f"the SDK saw non-JSON-RPC data from weld: {conn.stray[before:]!r}"


@pytest.mark.anyio
async def test_no_stray_transport_data(conn: Conn) -> None:
    """Nothing over the whole connection so far was anything but valid JSON-RPC."""
    await conn.call_ok("add_add", {"a": 0, "b": 0})
    assert conn.stray == [], f"the SDK saw malformed data from weld: {conn.stray!r}\n{log_tail(conn.log)}"


def audit_records(weld_env: dict[str, str], offset: int) -> list[dict[str, Any]]:
    """The complete audit records written since `offset` (every weld here shares the state)."""
    path = Path(weld_env["WELD_STATE_DIR"]) / "audit.jsonl"
    data = path.read_bytes()[offset:] if path.exists() else b""
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def audit_size(weld_env: dict[str, str]) -> int:
    path = Path(weld_env["WELD_STATE_DIR"]) / "audit.jsonl"
    return path.stat().st_size if path.exists() else 0


@pytest.mark.anyio
async def test_concurrent_calls(conn: Conn, weld_env: dict[str, str]) -> None:
    offset = audit_size(weld_env)
    results: list[CallToolResult] = []

    async def one(i: int) -> None:
        results.append(await conn.call_ok("hostile_echo", {"text": f"n{i}"}))

    async def sleeper() -> None:
        results.append(await conn.call("hostile_sleep", {"millis": 1000}))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(sleeper)
        for i in range(8):
            tg.start_soon(one, i)
    assert len(results) == 12 and not any(r.is_error for r in results), [describe(r) for r in results if r.is_error]
    assert {r.structured_content["result"] for r in results if r.structured_content} == {f"n{i}" for i in range(8)}
    # The sleeps ran side by side: as weld audited them, the last to start its run started
    # before the first to finish had finished (one after another, each would start after the
    # previous ended).
    deadline = time.monotonic() + 30
    while True:
        sleeps = [r for r in audit_records(weld_env, offset) if r["tool"] == "hostile_sleep"]
        if len(sleeps) >= 4 or time.monotonic() > deadline:
            break
        await anyio.sleep(0.05)
    assert len(sleeps) == 4, sleeps

    def run_start_ms(record: dict[str, Any]) -> float:
        arrived = datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp() * 1000
        return arrived + (record["queued_us"] + record.get("load_us", 0)) / 1000

    starts = [run_start_ms(r) for r in sleeps]
    ends = [start + r["duration_us"] / 1000 for start, r in zip(starts, sleeps, strict=True)]
    assert max(starts) < min(ends), f"the sleeps ran one after another: {sleeps}"


@pytest.mark.anyio
async def test_large_result(conn: Conn) -> None:
    """A 1 MiB tool result reaches the client (or fails as a tool error), never as a transport failure."""
    try:
        result = await conn.call("hostile_huge-output", {"mebibytes": 1})
    except MCPError as exc:
        pytest.fail(
            f"a 1 MiB result broke the {conn.transport} transport for the SDK client: "
            f"MCPError {exc.code}: {exc}",
            pytrace=False,
        )
    if not result.is_error:
        assert len(result.structured_content["result"]) == 1024 * 1024
    await conn.call_ok("hostile_echo", {"text": "after a big one"})


@pytest.mark.anyio
async def test_oversized_request_is_refused_promptly(conn: Conn) -> None:
    """A request over weld's --max-request-bytes (default 4 MiB) gets an answer, not silence."""
    arguments = {"text": "x" * (5 * 1024 * 1024)}
    started = time.monotonic()
    try:
        result = await conn.client.call_tool("text_word-count", arguments, read_timeout_seconds=5)
    except MCPError as exc:
        elapsed = time.monotonic() - started
        assert exc.code != REQUEST_TIMEOUT, (
            f"weld never answered an oversized request over {conn.transport}: the SDK gave up after "
            f"{elapsed:.1f}s with MCPError {exc.code}: {exc}\n{log_tail(conn.log, 5)}"
        )
    else:
        assert result.is_error, f"an oversized request was accepted: {describe(result)[:300]}"
    # Requests under the limit still work on the same connection.
    result = await conn.call_ok("text_word-count", {"text": "x" * (1024 * 1024)})
    assert result.structured_content["bytes"] == 1024 * 1024


# --------------------------------------------------------------------------- per-session behaviour


@pytest.mark.anyio
@pytest.mark.parametrize(("transport", "mode"), CONNECTIONS, ids=CONNECTION_IDS)
async def test_session_opens_and_closes_cleanly(
    transport: str,
    mode: str,
    weld_env: dict[str, str],
    http_server: HttpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole SDK session (connect, call, disconnect) makes the SDK log no warning or error."""
    caplog.set_level(logging.WARNING, logger="mcp")
    async with connect(transport, mode, weld_env, http_server.url, tmp_path) as c:
        assert (await c.call_ok("add_add", {"a": 1, "b": 2})).structured_content == {"result": 3}
    complaints = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.name.startswith("mcp")]
    assert complaints == [], f"the SDK complained during a plain session: {complaints}"
    # A stalled step fails at the SDK's read timeout (test_stdio_stdout_carries_only_jsonrpc
    # checks that weld exits on stdin EOF).


# --------------------------------------------------------------------------- raw stdio


def test_stdio_stdout_carries_only_jsonrpc(weld_env: dict[str, str], tmp_path: Path) -> None:
    """Read weld's stdout byte for byte while guests write to their stdout and stderr."""
    stderr_log = tmp_path / "weld-stderr.log"
    with open(stderr_log, "wb") as err:
        proc = subprocess.Popen(
            [str(WELD_BIN), *serve_args()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=full_env(weld_env),
        )
    assert proc.stdin is not None and proc.stdout is not None
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "weld-python-tests", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "hostile_print-stdout", "arguments": {"bytes": 50_000}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "hostile_print-stderr", "arguments": {"bytes": 5_000}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "hostile_panic", "arguments": {"message": "to stderr"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
         "params": {"name": "hostile_echo", "arguments": {"text": "done"}}},
    ]
    want = {1, 2, 3, 4, 5}
    lines: list[bytes] = []
    try:
        proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        proc.stdin.flush()
        seen: dict[int, dict[str, Any]] = {}
        buffer = b""
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while not want <= seen.keys():
            if time.monotonic() > deadline:
                pytest.fail(f"no responses for ids {sorted(want - seen.keys())}; stdout so far: {lines!r}")
            if not sel.select(timeout=0.5):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                pytest.fail(f"weld closed stdout early; stderr:\n{log_tail(stderr_log)}")
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                lines.append(line)
                message = json.loads(line)  # every line must be a JSON document...
                assert message.get("jsonrpc") == "2.0", f"not JSON-RPC 2.0: {line!r}"  # ...and JSON-RPC
                if "id" in message:
                    seen[message["id"]] = message
        assert seen[2]["result"]["structuredContent"] == {"result": 50_000}
        assert seen[4]["result"]["isError"] is True
        assert seen[5]["result"]["structuredContent"] == {"result": "done"}
        # Closing stdin ends the session: weld exits on its own, successfully.
        proc.stdin.close()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("weld did not exit within 10 s of its stdin closing")
        rest = proc.stdout.read()
        assert rest.strip() == b"", f"weld wrote non-JSON-RPC data to stdout at exit: {rest[:500]!r}"
        assert code == 0, f"weld exited with {code}; stderr:\n{log_tail(stderr_log)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- raw HTTP


def initialize_body() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "weld-python-tests", "version": "0"},
        },
    }


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_http_foreign_origin_is_forbidden(http_server: HttpServer) -> None:
    response = httpx2.post(
        http_server.url,
        json=initialize_body(),
        headers={**MCP_HEADERS, "Origin": "http://evil.example"},
        timeout=10,
    )
    assert response.status_code == 403, f"{response.status_code} {response.text[:300]}"


def test_http_loopback_origin_is_allowed(http_server: HttpServer) -> None:
    """The positive control for the Origin check: a loopback origin gets through."""
    response = httpx2.post(
        http_server.url,
        json=initialize_body(),
        headers={**MCP_HEADERS, "Origin": f"http://127.0.0.1:{http_server.port}"},
        timeout=10,
    )
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"


def test_http_foreign_host_is_forbidden(http_server: HttpServer) -> None:
    """DNS-rebinding protection: a Host header naming another site is refused."""
    response = httpx2.post(
        http_server.url,
        json=initialize_body(),
        headers={**MCP_HEADERS, "Host": "evil.example"},
        timeout=10,
    )
    assert response.status_code == 403, f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("path", ["/", "/other", "/mcp/extra", "/MCP"])
def test_http_other_paths_are_not_found(http_server: HttpServer, path: str) -> None:
    post = httpx2.post(http_server.base + path, json=initialize_body(), headers=MCP_HEADERS, timeout=10)
    assert post.status_code == 404, f"POST {path}: {post.status_code} {post.text[:300]}"
    get = httpx2.get(http_server.base + path, timeout=10)
    assert get.status_code == 404, f"GET {path}: {get.status_code} {get.text[:300]}"
