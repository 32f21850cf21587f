"""Token mode: a verified bearer token is the only way in.

Every forgery, expiry or mismatch is UNAUTHENTICATED on every RPC (enumerated from
the service descriptor), reads exactly like every other refusal, and never reaches
a handler: no statement carrying the token's subject reaches PostgreSQL and none of
its rows change.
"""

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from sessions_client import pb, pb_grpc
from sessions_server.app import App, build_server
from sessions_server.auth import Actor, JwtAuthenticator, JwtKey
from sessions_server.config import Settings
from sessions_server.errors import Unauthenticated

from tests.conftest import Owner, Stub
from tests.support import descriptor, rows
from tests.support.fake_upstream import MODEL, FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.statements import mentioning, recorded
from tests.support.tokens import (
    AUDIENCE,
    ISSUER,
    Issuer,
    Metadata,
    bearer,
    ec_key,
    hs256,
    public_pem,
    rsa_key,
    unsigned,
)


@cache
def forger() -> Issuer:
    """Signs like the real issuer, with a key of its own."""
    return Issuer(rsa_key(), "RS256")


HOUR = 3600

# Each way in that must be refused, given the real issuer and the subject.
REFUSED: dict[str, Callable[[Issuer, str], Metadata]] = {
    "no token": lambda issuer, sub: (),
    "bad signature": lambda issuer, sub: forger().md(sub),
    "expired": lambda issuer, sub: issuer.md(sub, exp=int(time.time()) - HOUR),
    "not yet valid": lambda issuer, sub: issuer.md(sub, nbf=int(time.time()) + HOUR),
    "wrong audience": lambda issuer, sub: issuer.md(sub, aud="another-service"),
    "wrong issuer": lambda issuer, sub: issuer.md(sub, iss="https://elsewhere.test"),
    "alg none": lambda issuer, sub: bearer(unsigned(issuer.claims(sub))),
    "hs256 keyed with the public key": lambda issuer, sub: bearer(
        hs256(public_pem(issuer.key), issuer.claims(sub))
    ),
    "no exp": lambda issuer, sub: issuer.md(sub, exp=None),
    "no audience": lambda issuer, sub: issuer.md(sub, aud=None),
    "no sub": lambda issuer, sub: bearer(issuer.token("", sub=None)),
    "unknown actor": lambda issuer, sub: issuer.md(sub, actor="admin"),
    "not a token": lambda issuer, sub: bearer("not.a.token"),
    "basic scheme": lambda issuer, sub: (("authorization", f"Basic {issuer.token(sub)}"),),
    "development metadata": lambda issuer, sub: (("x-owner", sub),),
}

# A request per RPC that would leave a trace if its handler ran for the subject.
REQUESTS: dict[str, Callable[[str], Message]] = {
    "Create": lambda sid: pb.CreateRequest(name="should not exist", model="m", request_id="r1"),
    "Get": lambda sid: pb.GetRequest(session_id=sid, messages_limit=10),
    "List": lambda sid: pb.ListRequest(),
    "Send": lambda sid: pb.SendRequest(session_id=sid, content=Script().say("hello")),
    "Manage": lambda sid: pb.ManageRequest(session_id=sid, rename=pb.Rename(name="taken")),
    "Watch": lambda sid: pb.WatchRequest(),
    "Attach": lambda sid: pb.AttachRequest(session_id=sid),
    "Cancel": lambda sid: pb.CancelRequest(session_id=sid),
}


def test_every_rpc_has_a_request() -> None:
    assert sorted(REQUESTS) == sorted(m.name for m in descriptor.METHODS)


@pytest.mark.parametrize("case", REFUSED)
async def test_refused_on_every_rpc_before_any_handler(
    case: str,
    issuer: Issuer,
    jwt_app: App,
    jwt_channel: grpc.aio.Channel,
    jwt_stub: Stub,
    admin: asyncpg.Connection,
    fake_upstream: FakeUpstream,
    owner: Owner,
) -> None:
    created = await jwt_stub.Create(
        pb.CreateRequest(name="mine", model=MODEL), metadata=issuer.md(owner.name)
    )
    before = await rows.snapshot(admin, owner.name)
    heard = len(fake_upstream.requests)
    baseline = await descriptor.invoke(
        jwt_channel, descriptor.METHODS[0], REQUESTS[descriptor.METHODS[0].name]("")
    )
    with recorded(jwt_app.engine) as statements:
        for method in descriptor.METHODS:
            request = REQUESTS[method.name](created.session.id)
            outcome = await descriptor.invoke(
                jwt_channel, method, request, REFUSED[case](issuer, owner.name)
            )
            assert outcome.code is grpc.StatusCode.UNAUTHENTICATED, method.name
            assert outcome.details == "missing or invalid credentials"
            # Exactly what a call with no token at all gets: nothing says which check failed.
            assert outcome.refusal == baseline.refusal
            assert outcome.responses == []
    assert mentioning(statements, owner.name) == []
    assert await rows.snapshot(admin, owner.name) == before
    assert len(fake_upstream.requests) == heard


async def test_accepted_token_runs_as_its_subject(
    issuer: Issuer,
    jwt_app: App,
    jwt_stub: Stub,
    stub: Stub,
    fake_upstream: FakeUpstream,
    owner: Owner,
    other_owner: Owner,
) -> None:
    heard = len(fake_upstream.requests)
    with recorded(jwt_app.engine) as statements:
        created = await jwt_stub.Create(
            pb.CreateRequest(name="mine", model=MODEL), metadata=issuer.md(owner.name)
        )
        send = pb.SendRequest(session_id=created.session.id, content=Script().say("hi"))
        replies = [r async for r in jwt_stub.Send(send, metadata=issuer.md(owner.name))]
    # The observers of the refusal test see a call that gets through.
    assert mentioning(statements, owner.name)
    assert len(fake_upstream.requests) == heard + 1
    assert replies[-1].completed.assistant_message.content == Script().reply
    # The same owner in development mode finds it; another subject does not.
    found = await stub.Get(pb.GetRequest(session_id=created.session.id), metadata=owner.md)
    assert found.session.name == "mine"
    listed = await jwt_stub.List(pb.ListRequest(), metadata=issuer.md(other_owner.name))
    assert created.session.id not in [s.id for s in listed.sessions]


async def test_development_metadata_is_ignored_next_to_a_token(
    issuer: Issuer, jwt_stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    created = await jwt_stub.Create(
        pb.CreateRequest(name="mine", model="m"), metadata=issuer.md(owner.name)
    )
    spoofed = (*issuer.md(other_owner.name), ("x-owner", owner.name))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await jwt_stub.Get(pb.GetRequest(session_id=created.session.id), metadata=spoofed)
    assert reason(raised.value) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_agent_token_may_star_but_not_unstar(
    issuer: Issuer, jwt_stub: Stub, owner: Owner
) -> None:
    user, agent = issuer.md(owner.name), issuer.md(owner.name, actor="agent")
    created = await jwt_stub.Create(pb.CreateRequest(name="mine", model="m"), metadata=user)
    sid = created.session.id
    starred = await jwt_stub.Manage(
        pb.ManageRequest(session_id=sid, star=pb.Star()), metadata=agent
    )
    assert starred.session.starred
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await jwt_stub.Manage(pb.ManageRequest(session_id=sid, unstar=pb.Unstar()), metadata=agent)
    assert reason(raised.value) == (grpc.StatusCode.PERMISSION_DENIED, "UNSTAR_FORBIDDEN")
    # A token without `actor` is a user's, and a user may unstar.
    unstarred = await jwt_stub.Manage(
        pb.ManageRequest(session_id=sid, unstar=pb.Unstar()), metadata=user
    )
    assert not unstarred.session.starred


async def test_clock_skew_within_the_leeway_is_tolerated(
    issuer: Issuer, jwt_stub: Stub, owner: Owner
) -> None:
    now = int(time.time())
    for skewed in (issuer.md(owner.name, exp=now - 10), issuer.md(owner.name, nbf=now + 10)):
        await jwt_stub.List(pb.ListRequest(), metadata=skewed)


@asynccontextmanager
async def running(settings: Settings, database_url: str) -> AsyncIterator[Stub]:
    app = await build_server(settings, database_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield pb_grpc.SessionServiceStub(channel)
    finally:
        await app.stop(None)


SECRET = "a shared secret of at least 32 bytes"


async def test_hs256_secret_accepts_only_its_own_tokens(
    database_url: str, issuer: Issuer, owner: Owner
) -> None:
    settings = Settings(listen="127.0.0.1:0", auth="jwt", jwt_secret=SECRET)
    mine = Issuer(SECRET, "HS256", audience=None, issuer=None)
    async with running(settings, database_url) as stub:
        await stub.List(pb.ListRequest(), metadata=mine.md(owner.name))
        other_secret = Issuer("another secret of at least 32 bytes!", "HS256", None, None)
        rs256 = Issuer(issuer.key, "RS256", audience=None, issuer=None)
        for refused in (other_secret.md(owner.name), rs256.md(owner.name)):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.List(pb.ListRequest(), metadata=refused)
            assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_es256_key_accepts_only_es256_tokens(
    database_url: str, tmp_path: Path, owner: Owner
) -> None:
    key = ec_key()
    (tmp_path / "es256.pem").write_bytes(public_pem(key))
    settings = Settings(
        listen="127.0.0.1:0", auth="jwt", jwt_public_key_file=tmp_path / "es256.pem"
    )
    signer = Issuer(key, "ES256", audience=None, issuer=None)
    async with running(settings, database_url) as stub:
        await stub.List(pb.ListRequest(), metadata=signer.md(owner.name))
        confused = bearer(hs256(public_pem(key), signer.claims(owner.name)))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.List(pb.ListRequest(), metadata=confused)
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


def _key_file(folder: Path, pem: bytes) -> Path:
    path = folder / f"{uuid.uuid4().hex}.pem"
    path.write_bytes(pem)
    return path


UNSAFE: dict[str, Callable[[Path], Settings]] = {
    "token mode without a key": lambda d: Settings(listen="127.0.0.1:0", auth="jwt"),
    "the default on a public address without a key": lambda d: Settings(listen="0.0.0.0:0"),
    "both a secret and a public key": lambda d: Settings(
        listen="127.0.0.1:0",
        auth="jwt",
        jwt_secret=SECRET,
        jwt_public_key_file=_key_file(d, public_pem(ec_key())),
    ),
    "a short secret": lambda d: Settings(listen="127.0.0.1:0", auth="jwt", jwt_secret="short"),
    "a key file that holds no public key": lambda d: Settings(
        listen="127.0.0.1:0", auth="jwt", jwt_public_key_file=_key_file(d, b"not a key")
    ),
    "development mode on a public address": lambda d: Settings(listen="0.0.0.0:0", auth="insecure"),
}


@pytest.mark.parametrize("case", UNSAFE)
async def test_unsafe_configuration_refuses_to_start(
    case: str, tmp_path: Path, database_url: str
) -> None:
    with pytest.raises(ValueError, match="SESSIONS_"):
        await build_server(UNSAFE[case](tmp_path), database_url)


def test_public_address_defaults_to_token_mode() -> None:
    assert Settings(listen="0.0.0.0:50051").auth_mode() == "jwt"
    assert Settings(listen="[::]:50051").auth_mode() == "jwt"
    assert Settings(listen="127.0.0.1:50051").auth_mode() == "insecure"


@cache
def _authenticator() -> JwtAuthenticator:
    return JwtAuthenticator(
        JwtKey(forger().key.public_key(), "RS256"), audience=AUDIENCE, issuer=ISSUER, leeway=30
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    header=st.one_of(
        st.text(),
        st.builds(lambda t: f"Bearer {t}", st.text()),
        st.builds(
            lambda parts: "Bearer " + ".".join(parts),
            st.lists(st.text("abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_="), max_size=4),
        ),
    )
)
def test_arbitrary_authorization_is_refused_cleanly(header: str) -> None:
    with pytest.raises(Unauthenticated):
        _authenticator().authenticate((("authorization", header),))


def test_valid_token_yields_owner_and_actor() -> None:
    principal = _authenticator().authenticate(forger().md("alice", actor="agent"))
    assert (principal.owner, principal.actor) == ("alice", Actor.AGENT)
