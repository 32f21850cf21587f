"""An unexpected failure is INTERNAL "internal error": the caller gets a correlation
id and nothing of the exception, the log gets the exception under the same id."""

import logging
import uuid

import grpc
import pytest
import sqlalchemy as sa
from sessions_server.app import App
from sessions_server.store import Store
from sessions_server.store.tables import messages

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, get
from tests.support.rpc import error_info


async def test_unexpected_error_is_internal_without_its_text(
    server: App, stub: Stub, owner: Owner, caplog: pytest.LogCaptureFixture
) -> None:
    session = await create(stub, owner.md)
    # A stored role the code does not know: the read fails in an unforeseen way.
    async with Store(server.engine).scope(owner.name) as scope:
        await scope.connection.execute(
            sa.insert(messages).values(
                owner=owner.name,
                session_id=uuid.UUID(session.id),
                seq=1,
                role=99,
                content="corrupt",
                status=1,
                create_time=sa.func.now(),
            )
        )
    with caplog.at_level(logging.ERROR, logger="sessions_server"):
        error = await failure(get(stub, owner.md, session.id, messages_limit=10))

    info = error_info(error)
    correlation_id = info.metadata["correlation_id"]
    assert error.code() == grpc.StatusCode.INTERNAL
    assert (info.reason, info.domain) == ("INTERNAL", "sessions.v1")
    assert error.details() == f"internal error (correlation id {correlation_id})"
    logged = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "99" in str(logged[0].exc_info[1])
