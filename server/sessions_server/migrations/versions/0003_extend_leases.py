"""Extend session leases for Send: the request holding one, and live leases by owner.

`lease_request_id` tells a retry of the streaming request (REQUEST_IN_PROGRESS)
from another Send (SESSION_BUSY). The partial index serves the count of an owner's
Sends in flight without reading its other sessions.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("lease_request_id", sa.Text))
    op.create_index(
        "sessions_owner_leased",
        "sessions",
        ["owner"],
        postgresql_where=sa.text("lease_token IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("sessions_owner_leased", table_name="sessions")
    op.drop_column("sessions", "lease_request_id")
