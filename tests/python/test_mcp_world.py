"""An MCP-world component (tests/components/mcpdemo, wasmcp's `mcp-v20251125` world) driven
by the official MCP Python SDK: its resources, resource templates, prompts, completion, and the
progress and log notifications of a tool call, over stdio and Streamable HTTP, in both eras
(``legacy``: the initialize handshake; ``auto``: ``server/discover``, 2026-07-28).

The component runs with no grants, so a resource it would read from the host file system is
refused by the sandbox: resources are read under the same policy as tool calls.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    BlobResourceContents,
    PromptReference,
    TextContent,
    TextResourceContents,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WELD_BIN = Path(os.environ.get("WELD_BIN") or REPO_ROOT / "target" / "debug" / "weld")
COMPONENT = REPO_ROOT / "target" / "components" / "mcpdemo.wasm"
READ_TIMEOUT_SECONDS = 30.0

CONNECTIONS = [("stdio", "legacy"), ("stdio", "auto"), ("http", "legacy"), ("http", "auto")]
CONNECTION_IDS = [f"{transport}-{mode}" for transport, mode in CONNECTIONS]


def serve_args(*extra: str) -> list[str]:
    return ["serve", *extra, "--component", str(COMPONENT)]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def weld_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not (WELD_BIN.is_file() and COMPONENT.is_file()):
        pytest.fail(f"needs {WELD_BIN} and {COMPONENT}: run cargo build and scripts/build-components.sh")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WELD_", "XDG_STATE", "XDG_CACHE"))}
    env.update(
        {
            "WELD_STATE_DIR": str(tmp_path_factory.mktemp("weld-state")),
            "WELD_CACHE_DIR": str(tmp_path_factory.mktemp("weld-cache")),
            "NO_COLOR": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def http_url(weld_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("weld-http") / "weld.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [str(WELD_BIN), *serve_args("--http", "127.0.0.1:0")],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            env=weld_env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            found = re.search(r"url=(http://\S+/mcp)", log.read_text(errors="replace"))
            if found:
                url = found.group(1)
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"weld serve --http did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Heard:
    """What the client was told on the side: log messages (by data)."""

    def __init__(self) -> None:
        self.logs: list[Any] = []

    async def on_log(self, params: Any) -> None:
        self.logs.append(params.data)


@asynccontextmanager
async def connect(
    transport: str, mode: str, env: dict[str, str], url: str, log_dir: Path
) -> AsyncIterator[tuple[Client, Heard]]:
    heard = Heard()
    errlog = None
    if transport == "stdio":
        errlog = open(log_dir / f"weld-{mode}.log", "w")  # noqa: SIM115 - open while weld runs
        server: Any = stdio_client(StdioServerParameters(command=str(WELD_BIN), args=serve_args(), env=env), errlog=errlog)
    else:
        server = url
    try:
        async with Client(
            server,
            mode=mode,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
            logging_callback=heard.on_log,
            # The 2026-07-28 opt-in to log messages (per request); ignored by the handshake era.
            log_level="info",
        ) as client:
            yield client, heard
    finally:
        if errlog is not None:
            errlog.close()


@pytest.fixture(scope="module", params=CONNECTIONS, ids=CONNECTION_IDS)
async def conn(
    request: pytest.FixtureRequest,
    weld_env: dict[str, str],
    http_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Client, Heard]]:
    transport, mode = request.param
    async with connect(transport, mode, weld_env, http_url, tmp_path_factory.mktemp("logs")) as c:
        yield c


@pytest.mark.anyio
async def test_capabilities_name_what_the_component_offers(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    caps = client.server_capabilities
    assert caps.tools is not None
    assert caps.resources is not None, "the component offers resources"
    assert caps.prompts is not None, "the component offers prompts"
    assert caps.completions is not None, "the component completes"


@pytest.mark.anyio
async def test_resources_are_listed_and_read_as_text_and_blob(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    listing = await client.list_resources()
    by_uri = {str(r.uri): r for r in listing.resources}
    assert set(by_uri) == {"demo://static", "demo://blob"}
    assert by_uri["demo://static"].mime_type == "text/plain"
    assert by_uri["demo://static"].description == "The static resource."

    text = await client.read_resource("demo://static")
    assert len(text.contents) == 1
    assert isinstance(text.contents[0], TextResourceContents)
    assert text.contents[0].text == "static text"

    blob = await client.read_resource("demo://blob")
    assert isinstance(blob.contents[0], BlobResourceContents)
    assert blob.contents[0].blob == "AAEC/w=="  # base64 of 00 01 02 ff


@pytest.mark.anyio
async def test_resource_templates_are_listed(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    templates = await client.list_resource_templates()
    assert [(t.uri_template, t.name) for t in templates.resource_templates] == [("file:///{+path}", "file")]


@pytest.mark.anyio
async def test_a_resource_outside_the_policy_is_refused_by_the_sandbox(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    with pytest.raises(MCPError) as refused:
        await client.read_resource("file:///etc/hostname")
    assert "/etc/hostname" in str(refused.value), str(refused.value)
    # The server keeps serving.
    assert (await client.read_resource("demo://static")).contents[0].text == "static text"


@pytest.mark.anyio
async def test_an_unknown_resource_is_an_error(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    with pytest.raises(MCPError):
        await client.read_resource("demo://nothing-here")


@pytest.mark.anyio
async def test_prompts_are_listed_and_got_with_arguments(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    listing = await client.list_prompts()
    [greet] = listing.prompts
    assert greet.name == "greet"
    assert [(a.name, a.required) for a in greet.arguments or []] == [("name", True), ("style", False)]

    got = await client.get_prompt("greet", {"name": "Ada", "style": "formal"})
    [message] = got.messages
    assert isinstance(message.content, TextContent)
    assert message.content.text == "Greet Ada in a formal way."


@pytest.mark.anyio
async def test_a_prompt_without_its_required_argument_is_invalid_params(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    with pytest.raises(MCPError) as refused:
        await client.get_prompt("greet", {})
    assert refused.value.error.code == -32602, refused.value.error


@pytest.mark.anyio
async def test_a_prompt_argument_is_completed(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    done = await client.complete(PromptReference(type="ref/prompt", name="greet"), {"name": "style", "value": "f"})
    assert done.completion.values == ["formal", "friendly", "funny"]
    narrowed = await client.complete(PromptReference(type="ref/prompt", name="greet"), {"name": "style", "value": "fu"})
    assert narrowed.completion.values == ["funny"]


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_a_calls_progress_and_log_messages_reach_the_client(conn: tuple[Client, Heard]) -> None:
    client, heard = conn
    if client.protocol_version < "2026-07-28":
        await client.set_logging_level("info")
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, _message: str | None) -> None:
        progress.append((value, total))

    heard.logs.clear()
    result = await client.call_tool("notify", {"count": 3}, progress_callback=on_progress)
    assert not result.is_error
    assert [c.text for c in result.content if isinstance(c, TextContent)] == ["notified"]
    # Notifications may trail the answer by a scheduling step on the client's side.
    with anyio.fail_after(5):
        while len(progress) < 3 or len(heard.logs) < 3:
            await anyio.sleep(0.01)
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert heard.logs == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]


@pytest.mark.anyio
async def test_a_tool_of_the_component_answers_with_its_own_structured_content(conn: tuple[Client, Heard]) -> None:
    client, _ = conn
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"echo", "notify", "media", "oops", "fail", "add"} <= set(tools)
    result = await client.call_tool("echo", {"text": "hi"})
    assert not result.is_error
    assert result.structured_content == {"echo": "hi"}
    failed = await client.call_tool("oops", {})
    assert failed.is_error
