"""`sessions attach`, `sessions cancel` and `sessions send --detach`: their arguments,
and the commands run as their own processes against the real server."""

import asyncio
import re
import signal

import pytest
from sessions_client import pb
from sessions_client._cli import Progress, parser
from sessions_server.app import App

from tests.conftest import Owner
from tests.support.fake_upstream import MODEL, FakeUpstream, Script
from tests.test_cli import Cli

HINT = re.compile(
    r"detached: the reply goes on; attach with: "
    r"sessions attach (?P<sid>\S+) --reply-seq (?P<seq>\d+) --after (?P<offset>\d+)$"
)


@pytest.fixture
def cli(server: App, owner: Owner) -> Cli:
    return Cli(f"127.0.0.1:{server.port}", owner.name)


def test_attach_and_cancel_arguments() -> None:
    attach = parser().parse_args(["attach", "sid", "--reply-seq", "4", "--after", "17"])
    assert (attach.session_id, attach.reply_seq, attach.after) == ("sid", 4, 17)
    newest = parser().parse_args(["attach", "sid"])
    assert (newest.reply_seq, newest.after) == (0, 0)
    cancel = parser().parse_args(["cancel", "sid", "--reply-seq", "2"])
    assert (cancel.session_id, cancel.reply_seq) == ("sid", 2)
    assert parser().parse_args(["send", "--detach", "sid", "hi"]).detach
    assert not parser().parse_args(["send", "sid", "hi"]).detach


def test_progress_names_the_reply_and_the_last_offset() -> None:
    progress = Progress("sid")
    assert progress.resume_hint() == (
        "detached before the reply was named; attach to the newest with: sessions attach sid"
    )
    assert Progress("sid", end_offset=7).resume_hint().endswith("sessions attach sid --after 7")
    events = [
        pb.SendResponse(started=pb.SendStarted(reply_seq=6)),
        pb.SendResponse(delta=pb.TextDelta(text="tok0 ", end_offset=5)),
        pb.SendResponse(delta=pb.TextDelta(text="tok1 ", end_offset=10)),
    ]
    for event in events:
        progress.follow(event)
    assert progress.resume_hint() == (
        "detached: the reply goes on; attach with: sessions attach sid --reply-seq 6 --after 10"
    )
    assert not progress.ended
    progress.follow(pb.SendResponse(completed=pb.SendCompleted()))
    assert progress.ended


async def test_attach_prints_a_finished_reply_again(cli: Cli) -> None:
    sid = (await cli("--json", "create", "again", "--model", "demo@echo")).json()["id"]
    await cli("send", sid, "said before")
    whole = await cli("attach", sid)
    assert (whole.code, whole.out, whole.err) == (0, "said before\n", "")
    rest = await cli("attach", sid, "--reply-seq", "2", "--after", "5")
    assert rest.out == "before\n"
    replayed = (await cli("--json", "attach", sid)).out.splitlines()
    assert '"replayed": true' in replayed[-1]


async def test_attach_without_a_reply_is_an_error(cli: Cli) -> None:
    sid = (await cli("--json", "create", "empty", "--model", "demo@echo")).json()["id"]
    ran = await cli("attach", sid)
    assert ran.code == 1
    assert ran.err.startswith("error: NOT_FOUND REPLY_NOT_FOUND:")


async def test_cancel_stops_the_reply_being_sent(cli: Cli, fake_upstream: FakeUpstream) -> None:
    sid = (await cli("--json", "create", "stoppable", "--model", MODEL)).json()["id"]
    sending = await cli.start("send", sid, Script(tokens=50, delay=0.1).say())
    assert sending.stdout is not None
    assert (await asyncio.wait_for(sending.stdout.read(5), 10)) == b"tok0 "

    cancelled = await cli("cancel", sid)
    assert cancelled.code == 0, cancelled.err
    first, message = cancelled.out.splitlines()
    assert first == "cancelled: the reply stopped, its text so far kept"
    assert message.startswith("  [2] assistant (incomplete): tok0 ")
    out, err = await asyncio.wait_for(sending.communicate(), 10)
    assert sending.returncode == 0
    assert "tok0 " + out.decode() == message.removeprefix("  [2] assistant (incomplete): ") + "\n"
    assert err.decode().strip() == "(MESSAGE_STATUS_INCOMPLETE)"

    again = await cli("--json", "cancel", sid, "--reply-seq", "2")
    assert "cancelled" not in again.json()
    assert again.json()["assistantMessage"]["status"] == "MESSAGE_STATUS_INCOMPLETE"
    done = await cli("cancel", sid)
    assert done.out.splitlines()[0] == "not cancelled: the reply had already ended"


async def test_interrupted_detached_send_says_how_to_attach(
    cli: Cli, fake_upstream: FakeUpstream
) -> None:
    sid = (await cli("--json", "create", "going on", "--model", MODEL)).json()["id"]
    script = Script(tokens=12, delay=0.2)
    sending = await cli.start("send", "--detach", sid, script.say())
    assert sending.stdout is not None
    first = await asyncio.wait_for(sending.stdout.read(5), 10)
    assert first == b"tok0 "
    sending.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(sending.communicate(), 10)
    assert sending.returncode == 130, err.decode()
    hint = HINT.match(err.decode().strip())
    assert hint is not None, err.decode()
    assert (hint["sid"], hint["seq"]) == (sid, "2")
    printed = (first + out).decode()
    assert int(hint["offset"]) == len(printed)

    attached = await cli("attach", sid, "--reply-seq", hint["seq"], "--after", hint["offset"])
    assert attached.code == 0, attached.err
    assert printed + attached.out == script.reply + "\n"
    got = await cli("get", sid)
    assert got.out.splitlines()[-1] == f"  [2] assistant: {script.reply}"


async def test_interrupted_attach_says_how_to_attach_again(
    cli: Cli, fake_upstream: FakeUpstream
) -> None:
    sid = (await cli("--json", "create", "watched", "--model", MODEL)).json()["id"]
    script = Script(tokens=12, delay=0.2)
    sending = await cli.start("send", sid, script.say())
    assert sending.stdout is not None
    sent = await asyncio.wait_for(sending.stdout.read(5), 10)
    attaching = await cli.start("attach", sid)
    assert attaching.stdout is not None
    first = await asyncio.wait_for(attaching.stdout.read(5), 10)
    assert first == b"tok0 "
    attaching.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(attaching.communicate(), 10)
    assert attaching.returncode == 130, err.decode()
    hint = HINT.match(err.decode().strip())
    assert hint is not None, err.decode()
    assert int(hint["offset"]) == len((first + out).decode())
    # The reader left, the Send's own caller did not: the reply ends COMPLETE.
    rest, _ = await asyncio.wait_for(sending.communicate(), 10)
    assert (sent + rest).decode() == script.reply + "\n"
