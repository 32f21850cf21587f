"""A stand-in SessionService on a real port, for what the real one never does on cue.

The client's retry policy and deadlines only show against a server that fails or
stalls when told to: the session id steers it, like grpc's own test servers.
`unavailable-N` fails the first N attempts with UNAVAILABLE, `sleep-S` answers
after S seconds (Create and List are steered by the name and the query). Every
attempt is counted per method and steering string. It can listen with
TLS, on a self-signed certificate for `localhost`.
"""

import asyncio
import datetime
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sessions_client import pb, pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass
class ScriptedService(pb_grpc.SessionServiceServicer):
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)

    async def _play(self, method: str, session_id: str, context: Context) -> None:
        self.attempts[method, session_id] += 1
        verb, _, argument = session_id.partition("-")
        if verb == "unavailable" and self.attempts[method, session_id] <= int(argument):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "scripted outage")
        if verb == "sleep":
            await asyncio.sleep(float(argument))

    async def Create(self, request: pb.CreateRequest, context: Context) -> pb.CreateResponse:
        await self._play("Create", request.name, context)
        return pb.CreateResponse(session=pb.Session(id=request.request_id, name=request.name))

    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        await self._play("List", request.query, context)
        return pb.ListResponse()

    async def Send(  # type: ignore[override]
        self, request: pb.SendRequest, context: Context
    ) -> AsyncIterator[pb.SendResponse]:
        await self._play("Send", request.session_id, context)
        message = pb.Message(seq=1, role=pb.ROLE_USER, content=request.content)
        yield pb.SendResponse(started=pb.SendStarted(user_message=message))
        yield pb.SendResponse(delta=pb.TextDelta(text=request.content))
        reply = pb.Message(seq=2, role=pb.ROLE_ASSISTANT, content=request.content)
        yield pb.SendResponse(completed=pb.SendCompleted(assistant_message=reply))

    async def Attach(  # type: ignore[override]
        self, request: pb.AttachRequest, context: Context
    ) -> AsyncIterator[pb.SendResponse]:
        await self._play("Attach", request.session_id, context)
        reply = pb.Message(seq=2, role=pb.ROLE_ASSISTANT, content="attached")
        yield pb.SendResponse(started=pb.SendStarted(reply_seq=reply.seq))
        yield pb.SendResponse(delta=pb.TextDelta(text=reply.content, end_offset=8))
        yield pb.SendResponse(completed=pb.SendCompleted(assistant_message=reply, replayed=True))

    async def Cancel(self, request: pb.CancelRequest, context: Context) -> pb.CancelResponse:
        await self._play("Cancel", request.session_id, context)
        reply = pb.Message(seq=2, role=pb.ROLE_ASSISTANT, status=pb.MESSAGE_STATUS_INCOMPLETE)
        return pb.CancelResponse(assistant_message=reply, cancelled=True)

    async def Watch(  # type: ignore[override]
        self, request: pb.WatchRequest, context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        await self._play("Watch", str(request.after_event_id), context)
        yield pb.WatchResponse(type=pb.EVENT_TYPE_CREATED, event_id=request.after_event_id + 1)

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        await self._play("Get", request.session_id, context)
        return pb.GetResponse(session=pb.Session(id=request.session_id))

    async def Manage(self, request: pb.ManageRequest, context: Context) -> pb.ManageResponse:
        await self._play("Manage", request.session_id, context)
        return pb.ManageResponse(session=pb.Session(id=request.session_id))


@dataclass(frozen=True)
class SelfSigned:
    certificate: bytes
    private_key: bytes


def self_signed_localhost() -> SelfSigned:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SelfSigned(
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class Running:
    service: ScriptedService
    port: int


@asynccontextmanager
async def scripted_server(tls: SelfSigned | None = None) -> AsyncIterator[Running]:
    server = grpc.aio.server()
    service = ScriptedService()
    pb_grpc.add_SessionServiceServicer_to_server(service, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        credentials = grpc.ssl_server_credentials([(tls.private_key, tls.certificate)])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield Running(service, port)
    finally:
        await server.stop(None)
