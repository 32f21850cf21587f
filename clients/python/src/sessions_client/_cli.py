"""`sessions`: the service from a terminal.

    sessions create "Trip planning" --model demo@echo
    sessions list [QUERY]
    sessions get ID --messages 20
    sessions send ID "Hello"            (the reply prints as it streams)
    sessions send --detach ID "Hello"   (Ctrl-C leaves the reply going on the server)
    sessions attach ID                  (the newest reply, from its start, as it streams)
    sessions cancel ID                  (stops the reply in progress)
    sessions manage rename ID "New name" | archive ID | delete ID | fork ID --keep 4 ...
    sessions watch

The server is `--address` (or SESSIONS_ADDRESS, default 127.0.0.1:50051). A server
in production wants `--token` (or SESSIONS_TOKEN); one in development mode trusts
`--owner` (or SESSIONS_OWNER, default: your login name). `--json` prints the
service's messages as JSON, one per line.
"""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc

from sessions_client._cli_output import Output
from sessions_client._client import SessionsClient
from sessions_client._errors import SessionsError
from sessions_client._generated.sessions.v1 import sessions_pb2 as pb

ARCHIVED = {
    "exclude": pb.ARCHIVED_FILTER_EXCLUDE,
    "include": pb.ARCHIVED_FILTER_INCLUDE,
    "only": pb.ARCHIVED_FILTER_ONLY,
}

Command = Callable[[SessionsClient, argparse.Namespace, Output], Awaitable[None]]


async def create(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    labels = dict(label.partition("=")[::2] for label in args.label)
    session = await client.create(
        args.name, args.model, system_prompt=args.system_prompt, labels=labels
    )
    out.session(session)


async def list_(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    page = await client.list(
        query=args.query,
        page_size=args.page_size,
        page_token=args.page_token,
        archived=ARCHIVED[args.archived],
        starred_only=args.starred,
    )
    out.page(page)


async def get(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    out.conversation(await client.get(args.session_id, messages_limit=args.messages))


@dataclass
class Progress:
    """How far a reply has been read, so that a reader who leaves can pick it up again."""

    session_id: str
    reply_seq: int = 0
    end_offset: int = 0
    ended: bool = False

    def follow(self, event: pb.SendResponse) -> None:
        if event.HasField("started"):
            self.reply_seq = event.started.reply_seq or self.reply_seq
        elif event.HasField("delta"):
            self.end_offset = event.delta.end_offset
        elif event.HasField("completed"):
            self.ended = True

    def resume_hint(self) -> str:
        """What to run to read the rest of the reply."""
        attach = f"sessions attach {self.session_id}"
        if not self.reply_seq:
            # Left before `started`: the reply has no seq yet (nor, for a Send, a
            # certain existence), so the hint names the session's newest reply.
            after = f" --after {self.end_offset}" if self.end_offset else ""
            return (
                f"detached before the reply was named; attach to the newest with: {attach}{after}"
            )
        return (
            "detached: the reply goes on; attach with: "
            f"{attach} --reply-seq {self.reply_seq} --after {self.end_offset}"
        )


async def print_reply(
    events: AsyncIterator[pb.SendResponse], out: Output, progress: Progress | None
) -> None:
    """Prints a reply as it streams; with `progress`, an interrupted reader (Ctrl-C)
    is told on stderr how to attach to the reply, which the server goes on with."""
    try:
        async for event in events:
            if progress is not None:
                progress.follow(event)
            out.send_event(event)
    except asyncio.CancelledError:
        # asyncio.run turns Ctrl-C into the cancellation of this task.
        if progress is not None and not progress.ended:
            print(f"\n{progress.resume_hint()}", file=sys.stderr, flush=True)
        raise


async def send(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    # A piped message ends with a newline that is not part of it.
    content = sys.stdin.read().removesuffix("\n") if args.message == "-" else args.message
    events = client.send(args.session_id, content, request_id=args.request_id, detach=args.detach)
    await print_reply(events, out, Progress(args.session_id) if args.detach else None)


async def attach(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    events = client.attach(args.session_id, reply_seq=args.reply_seq, after_offset=args.after)
    # Leaving an Attach never stops the reply, so its reader is always told how to return.
    progress = Progress(args.session_id, reply_seq=args.reply_seq, end_offset=args.after)
    await print_reply(events, out, progress)


async def cancel(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    out.cancelled(await client.cancel(args.session_id, reply_seq=args.reply_seq))


async def manage(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    sid, current = args.session_id, args.current
    match args.action:
        case "rename":
            result = await client.rename(sid, args.name, current_session_id=current)
        case "archive":
            result = await client.archive(sid, current_session_id=current)
        case "unarchive":
            result = await client.unarchive(sid, current_session_id=current)
        case "delete":
            result = await client.delete(sid, current_session_id=current)
        case "star":
            result = await client.star(sid, current_session_id=current)
        case "unstar":
            result = await client.unstar(sid, current_session_id=current)
        case "truncate":
            result = await client.truncate(sid, args.keep, current_session_id=current)
        case "fork":
            result = await client.fork(
                sid, keep_first=args.keep, name=args.name, current_session_id=current
            )
    out.managed(args.action, result)


async def watch(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    seen = 0
    async for event in client.watch(after_event_id=args.after):
        out.event(event)
        seen += 1
        if seen == args.count:
            return


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    top = argparse.ArgumentParser(
        prog="sessions", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    top.add_argument("--address", default=env("SESSIONS_ADDRESS", "127.0.0.1:50051"))
    top.add_argument("--token", default=env("SESSIONS_TOKEN"), help="bearer token (production)")
    top.add_argument("--owner", default=env("SESSIONS_OWNER"), help="owner (development mode)")
    top.add_argument("--actor", choices=["user", "agent"], help="actor (development mode)")
    top.add_argument("--tls", action="store_true", help="TLS with the system's roots")
    top.add_argument("--ca-file", help="TLS trusting this CA certificate (PEM) instead")
    top.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    top.add_argument("--json", action="store_true", help="print messages as JSON lines")
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(run=run)
        return sub

    sub = command("create", create, "create a session")
    sub.add_argument("name")
    sub.add_argument("--model", required=True, help="'model' or 'model@endpoint'")
    sub.add_argument("--system-prompt", default="")
    sub.add_argument("--label", action="append", default=[], help="KEY=VALUE, repeatable")

    sub = command("list", list_, "list sessions, most recently active first")
    sub.add_argument("query", nargs="?", default="", help="part of the name")
    sub.add_argument("--archived", choices=list(ARCHIVED), default="exclude")
    sub.add_argument("--starred", action="store_true")
    sub.add_argument("--page-size", type=int, default=50)
    sub.add_argument("--page-token", default="")

    sub = command("get", get, "show a session and its newest messages")
    sub.add_argument("session_id")
    sub.add_argument("--messages", type=int, default=20, help="how many (0 = none)")

    sub = command("send", send, "send a message and print the reply as it streams")
    sub.add_argument("session_id")
    sub.add_argument("message", help="the message, or - to read it from standard input")
    sub.add_argument("--request-id", help="idempotency key (a retry replays the reply)")
    sub.add_argument(
        "--detach",
        action="store_true",
        help="the reply goes on if you leave (Ctrl-C), which prints how to attach to it again",
    )

    sub = command("attach", attach, "print a reply as it streams, from where you left it")
    sub.add_argument("session_id")
    sub.add_argument(
        "--reply-seq",
        type=int,
        default=0,
        metavar="N",
        help="the reply's seq (default: the newest reply)",
    )
    sub.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="OFFSET",
        help="characters of the reply already received: the last end_offset (default 0)",
    )

    sub = command("cancel", cancel, "stop a reply being generated, keeping its text so far")
    sub.add_argument("session_id")
    sub.add_argument(
        "--reply-seq",
        type=int,
        default=0,
        metavar="N",
        help="the reply's seq (default: the one in progress)",
    )

    sub = command("manage", manage, "rename, archive, delete, star, truncate or fork")
    sub.add_argument("--current", default="", help="your current session (delete refuses it)")
    actions = sub.add_subparsers(dest="action", required=True)
    for name in ("rename", "archive", "unarchive", "delete", "star", "unstar", "truncate", "fork"):
        actions.add_parser(name).add_argument("session_id")
    actions.choices["rename"].add_argument("name")
    actions.choices["truncate"].add_argument(
        "--keep", type=int, help="newest messages to keep (default 10)"
    )
    actions.choices["fork"].add_argument(
        "--keep", type=int, help="oldest messages to copy (default all)"
    )
    actions.choices["fork"].add_argument("--name", default="", help='default "Fork: <name>"')

    sub = command("watch", watch, "print changes to your sessions as they happen")
    sub.add_argument("--after", type=int, default=0, help="resume after this event id")
    sub.add_argument("--count", type=int, default=0, help="stop after N events (0 = never)")
    return top


def client_for(args: argparse.Namespace) -> SessionsClient:
    tls: grpc.ChannelCredentials | bool = args.tls
    if args.ca_file:
        with open(args.ca_file, "rb") as ca:
            tls = grpc.ssl_channel_credentials(root_certificates=ca.read())
    owner = args.owner or (None if args.token else getpass.getuser())
    return SessionsClient(
        args.address,
        token=args.token,
        tls=tls,
        owner=owner,
        actor=args.actor,
        timeout=args.timeout,
    )


async def run(args: argparse.Namespace) -> None:
    async with client_for(args) as client:
        await args.run(client, args, Output(as_json=args.json))


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        asyncio.run(run(args))
    except SessionsError as error:
        print(f"error: {error}", file=sys.stderr)
        for violation in error.violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
