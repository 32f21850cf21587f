"""Key the events outbox by owner; create events_pruned, the retention watermark.

`events` gets the primary key (owner, id), like every other table (it serves
"this owner's events after id N" and lets the table distribute by owner); the
(owner, id) index it replaces goes. `events_pruned` keeps, per owner, the newest
event id that the retention prune removed.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("events_pkey", "events", type_="primary")
    op.create_primary_key("events_pkey", "events", ["owner", "id"])
    op.drop_index("events_owner_id", "events")
    op.create_table(
        "events_pruned",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("through_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("events_pruned")
    op.create_index("events_owner_id", "events", ["owner", "id"])
    op.drop_constraint("events_pkey", "events", type_="primary")
    op.create_primary_key("events_pkey", "events", ["id"])
