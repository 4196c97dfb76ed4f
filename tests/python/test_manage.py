"""weld's built-in management tools driven by the official MCP Python SDK (mcp==2.3.0).

A grant asked for over MCP is applied only when the user approves it: the SDK's
``elicitation_callback`` plays the user, over stdio, in ``legacy`` mode (weld sends
``elicitation/create``) and in ``auto`` mode (2026-07-28: weld answers ``input_required`` and
the SDK retries with the answer). A client without the callback declares no elicitation and is
refused with the ``weld grant`` command.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import ElicitResult

from test_clients import COMPONENTS_DIR, READ_TIMEOUT_SECONDS, WELD_BIN, full_env, text_of

MODES = ["legacy", "auto"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def state(tmp_path: Path) -> dict[str, Any]:
    """Fresh state with the hostile component installed, and a directory to grant."""
    if not WELD_BIN.is_file():
        pytest.fail(f"weld binary not found at {WELD_BIN}", pytrace=False)
    env = full_env({"WELD_STATE_DIR": str(tmp_path / "state"), "WELD_CACHE_DIR": str(tmp_path / "cache")})
    added = subprocess.run(
        [str(WELD_BIN), "add", str(COMPONENTS_DIR / "hostile.wasm")], env=env, capture_output=True, timeout=300
    )
    assert added.returncode == 0, added.stderr.decode(errors="replace")
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "notes.txt").write_text("hello")
    return {
        "env": env,
        "policy": tmp_path / "state" / "policies" / "hostile.yaml",
        "uri": f"fs://{granted.resolve()}/**",
        "log": tmp_path / "weld.log",
    }


@asynccontextmanager
async def connect(state: dict[str, Any], mode: str, callback: Any) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(WELD_BIN), args=["serve"], env=state["env"])
    with open(state["log"], "a") as errlog:
        kwargs: dict[str, Any] = {"mode": mode, "read_timeout_seconds": READ_TIMEOUT_SECONDS}
        if callback is not None:
            kwargs["elicitation_callback"] = callback
        async with Client(stdio_client(params, errlog=errlog), **kwargs) as client:
            yield client


def person(approve: bool, shown: list[str]) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        shown.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    return callback


def grant(state: dict[str, Any]) -> dict[str, Any]:
    return {"component": "hostile", "kind": "storage", "target": state["uri"], "access": ["read"]}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_an_approved_grant_is_written(state: dict[str, Any], mode: str) -> None:
    shown: list[str] = []
    async with connect(state, mode, person(True, shown)) as client:
        result = await client.call_tool("weld_request_grant", grant(state))
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        assert state["uri"] in result.structured_content["policy"]
    assert len(shown) == 1 and state["uri"] in shown[0] and "hostile" in shown[0], shown
    assert state["uri"] in state["policy"].read_text()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_refused_approval_changes_nothing(state: dict[str, Any], mode: str) -> None:
    shown: list[str] = []
    async with connect(state, mode, person(False, shown)) as client:
        result = await client.call_tool("weld_request_grant", grant(state))
        assert result.is_error and "declined" in text_of(result), text_of(result)
    assert len(shown) == 1
    assert not state["policy"].exists()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_without_elicitation_the_user_is_told_the_command(state: dict[str, Any], mode: str) -> None:
    async with connect(state, mode, None) as client:
        result = await client.call_tool("weld_request_grant", grant(state))
        assert result.is_error, text_of(result)
        assert "grant hostile storage" in text_of(result) and "--access read" in text_of(result), text_of(result)
    assert not state["policy"].exists()
