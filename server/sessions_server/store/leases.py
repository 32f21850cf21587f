"""Leases: a Send's hold on its session, taken, renewed and given back by row updates.

A lease is `sessions.lease_token` with `lease_expires`. Taking one is a single
conditional UPDATE (the lease is free or lapsed), so replicas racing for a session
cannot both win: PostgreSQL re-checks the condition on the row the loser waited
for. A process that dies holding a lease holds it only until `lease_expires`,
which a live holder keeps pushing forward.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from sessions_server.errors import (
    RequestInProgress,
    ServiceError,
    SessionBusy,
    SessionNotFound,
    TooManySends,
)
from sessions_server.store.scope import Scope
from sessions_server.store.tables import sessions

_NOW = sa.func.clock_timestamp()


@dataclass(frozen=True)
class Claim:
    """The leased session, as a Send needs it."""

    name: str
    model: str
    endpoint: str
    system_prompt: str
    reply_seq: int
    """The seq reserved for the Send's reply."""


def _mine(scope: Scope, session_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.owner == scope.owner, sessions.c.id == session_id)


def _held(scope: Scope, session_id: uuid.UUID, token: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(_mine(scope, session_id), sessions.c.lease_token == token)


_ADMIT = sa.select(
    sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("p_key", type_=sa.Text), 0))
)


async def admit(scope: Scope) -> None:
    """Queues the owner's Send admissions one behind another until the transaction
    ends, so that the count of Sends in flight cannot be raced past the cap (the
    same lock `open_send` of migration 0008 takes)."""
    await scope.connection.execute(_ADMIT, {"p_key": f"sessions.send:{scope.owner}"})


_CLAIM = sa.text(
    "SELECT outcome, name, model, endpoint, system_prompt, reply_seq "
    "FROM claim_lease(:owner, :session_id, :token, :lease, :request_id, :cap, false)"
).bindparams(
    sa.bindparam("session_id", type_=sessions.c.id.type),
    sa.bindparam("token", type_=sessions.c.lease_token.type),
    sa.bindparam("lease", type_=sa.Interval),
)

_REFUSALS: dict[str, type[ServiceError]] = {
    "missing": SessionNotFound,
    "busy": SessionBusy,
    "free": SessionBusy,  # let go and taken again, twice, while it was asked for
    "in_progress": RequestInProgress,
    "too_many": TooManySends,
}
CLAIMED = "claimed"


def refused(outcome: str) -> ServiceError:
    """The error for `claim_lease`'s outcome when it is not `CLAIMED`."""
    return _REFUSALS[outcome]()


async def claim(
    scope: Scope,
    session_id: uuid.UUID,
    token: uuid.UUID,
    seconds: float,
    request_id: str,
    cap: int,
) -> Claim:
    """Leases the session if it is free and the owner has fewer than `cap` Sends in
    flight, else raises why not. `sends.open_send` does the same and stores a new
    message with it."""
    outcome, *claimed = (
        await scope.connection.execute(
            _CLAIM,
            {
                "owner": scope.owner,
                "session_id": session_id,
                "token": token,
                "lease": timedelta(seconds=seconds),
                "request_id": request_id,
                "cap": cap,
            },
        )
    ).one()
    if outcome != CLAIMED:
        raise refused(outcome)
    return Claim(*claimed)


class Hold(enum.StrEnum):
    """How a Send's hold stands after a write under its lease (a renewal, a flush)."""

    HELD = "held"
    CANCELLED = "cancelled"
    """Held, and a Cancel asks the reply to stop."""
    LOST = "lost"
    """The lease is no longer the Send's: nothing was written."""


async def renew(scope: Scope, session_id: uuid.UUID, token: uuid.UUID, seconds: float) -> Hold:
    """Pushes the lease's expiry forward."""
    cancelled = (
        await scope.connection.execute(
            sa.update(sessions)
            .where(_held(scope, session_id, token))
            .values(lease_expires=_NOW + timedelta(seconds=seconds))
            .returning(sessions.c.lease_cancelled)
        )
    ).scalar_one_or_none()
    if cancelled is None:
        return Hold.LOST
    return Hold.CANCELLED if cancelled else Hold.HELD
