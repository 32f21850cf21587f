"""How the client reaches the service: the channel, its retry policy, the caller's identity.

The channel is opened on first use, so a client can be built outside an event loop
(at import time, in a constructor) and used from the loop that runs it.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

SERVICE = "sessions.v1.SessionService"

# Methods safe to repeat after UNAVAILABLE: Get, List and Watch only read, and the
# client gives every Create and Send a request_id, with which the server answers a
# repeat with the first result instead of doing the work twice. Manage is left out:
# a repeated fork would make two copies. gRPC retries a stream only until its first
# response arrives, so no event of a Send or Watch is ever seen twice. A Create is
# also repeated after ABORTED, which for Create only ever means that the first call
# with its request_id is still running: the repeat then returns that call's session.
RETRIED_METHODS = ("Get", "List", "Watch", "Send")


def _retried(methods: Sequence[str], codes: Sequence[str]) -> dict[str, Any]:
    return {
        "name": [{"service": SERVICE, "method": method} for method in methods],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": list(codes),
        },
    }


SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            _retried(RETRIED_METHODS, ["UNAVAILABLE"]),
            _retried(["Create"], ["UNAVAILABLE", "ABORTED"]),
        ]
    }
)


@dataclass(frozen=True)
class Identity:
    """Who the calls run as: a bearer token, or `x-owner` / `x-actor` in development mode.

    A server in development mode (`SESSIONS_AUTH=insecure`) trusts `owner` and
    `actor` as sent; in production it reads both from the token and ignores them.
    """

    token: str | None = None
    owner: str | None = None
    actor: str | None = None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        items: list[tuple[str, str]] = []
        if self.token:
            items.append(("authorization", f"Bearer {self.token}"))
        if self.owner:
            items.append(("x-owner", self.owner))
        if self.actor:
            items.append(("x-actor", self.actor))
        return tuple(items)


Credentials = grpc.ChannelCredentials | bool | None


class Connection:
    """One lazily opened channel, shared by a client and the views made from it."""

    def __init__(self, address: str, tls: Credentials, options: Sequence[tuple[str, Any]]) -> None:
        self.address = address
        self._credentials = grpc.ssl_channel_credentials() if tls is True else tls or None
        self._options = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", SERVICE_CONFIG),
            *options,
        ]
        self._channel: grpc.aio.Channel | None = None

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.address, options=self._options)
            else:
                self._channel = grpc.aio.secure_channel(
                    self.address, self._credentials, options=self._options
                )
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)
