"""The `sessions` command, run as its own process against the real server."""

import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sessions_server.app import App

from tests.conftest import Owner
from tests.support.fake_upstream import MODEL, FakeUpstream, Script

SESSIONS = Path(sys.executable).parent / "sessions"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True)
class Cli:
    address: str
    owner: str

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            SESSIONS,
            "--address",
            self.address,
            "--owner",
            self.owner,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def __call__(self, *args: str, stdin: str | None = None) -> Ran:
        process = await self.start(*args)
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin else None), 30
        )
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())


@pytest.fixture
def cli(server: App, owner: Owner) -> Cli:
    return Cli(f"127.0.0.1:{server.port}", owner.name)


async def test_create_list_and_get(cli: Cli) -> None:
    created = await cli("--json", "create", "Trip planning", "--model", "demo@echo")
    assert created.code == 0, created.err
    session = created.json()
    assert (session["name"], session["model"], session["endpoint"]) == (
        "Trip planning",
        "demo",
        "echo",
    )
    listed = await cli("list", "trip")
    assert listed.code == 0
    assert listed.out.splitlines() == [
        f"{session['id']}  Trip planning  (demo@echo, 0 msgs, just now)",
        "1 of 1 session(s)",
    ]
    got = await cli("get", session["id"])
    assert got.out == f"{session['id']}  Trip planning  (demo@echo, 0 msgs, just now)\n"


async def test_manage_actions(cli: Cli) -> None:
    session = (await cli("--json", "create", "base", "--model", "demo", "--label", "k=v")).json()
    sid = session["id"]
    assert session["labels"] == {"k": "v"}
    renamed = await cli("manage", "rename", sid, "renamed")
    assert renamed.out == f"{sid}  renamed  (demo@echo, 0 msgs, just now)\n"
    starred = await cli("manage", "star", sid)
    assert starred.out.endswith("just now) [starred]\n")
    await cli("manage", "unstar", sid)
    archived = await cli("manage", "archive", sid)
    assert archived.out.endswith("just now) [archived]\n")
    only = await cli("--json", "list", "--archived", "only")
    assert [s["id"] for s in only.json()["sessions"]] == [sid]
    await cli("manage", "unarchive", sid)
    truncated = await cli("manage", "truncate", sid, "--keep", "3")
    assert truncated.out.splitlines()[1] == "removed 0 message(s)"
    fork = await cli("--json", "manage", "fork", sid, "--name", "branch")
    forked = fork.json()["session"]
    assert (forked["name"], forked["forkedFrom"]) == ("branch", sid)
    deleted = await cli("manage", "delete", forked["id"])
    assert deleted.out == f"deleted {forked['id']} (0 messages)\n"


async def test_errors_print_their_reason_and_exit_non_zero(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    ran = await cli("get", missing)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == "error: NOT_FOUND SESSION_NOT_FOUND: session not found\n"
    bad = await cli("create", " ", "--model", "demo")
    assert bad.code == 1
    assert bad.err.splitlines()[0].startswith("error: INVALID_ARGUMENT INVALID_ARGUMENT:")
    assert bad.err.splitlines()[1].startswith("  name: ")


async def test_agent_cannot_unstar(cli: Cli) -> None:
    sid = (await cli("--json", "create", "kept", "--model", "demo")).json()["id"]
    await cli("manage", "star", sid)
    ran = await cli("--actor", "agent", "manage", "unstar", sid)
    assert ran.code == 1
    assert ran.err.startswith("error: PERMISSION_DENIED UNSTAR_FORBIDDEN:")


async def test_unreachable_server_is_unavailable(owner: Owner) -> None:
    ran = await Cli("127.0.0.1:1", owner.name)("--timeout", "3", "list")
    assert ran.code == 1
    assert ran.err.startswith("error: UNAVAILABLE UNAVAILABLE:")


async def test_send_prints_the_reply_as_it_streams(cli: Cli, fake_upstream: FakeUpstream) -> None:
    sid = (await cli("--json", "create", "live", "--model", MODEL)).json()["id"]
    script = Script(tokens=4, delay=0.3)
    process = await cli.start("send", sid, script.say())
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.read(64), 10)
    assert first.startswith(b"tok0 ")
    assert process.returncode is None, "the first token came before the reply ended"
    rest = await asyncio.wait_for(process.stdout.read(), 10)
    assert await process.wait() == 0
    assert (first + rest).decode() == script.reply + "\n"


async def test_send_reads_the_message_from_standard_input(cli: Cli) -> None:
    sid = (await cli("--json", "create", "piped", "--model", "demo@echo")).json()["id"]
    ran = await cli("send", sid, "-", stdin="words from a pipe\n")
    assert (ran.code, ran.out) == (0, "words from a pipe\n")
    got = await cli("get", sid)
    assert got.out.splitlines()[1:] == [
        "  [1] user: words from a pipe",
        "  [2] assistant: words from a pipe",
    ]
