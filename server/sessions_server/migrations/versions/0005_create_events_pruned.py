"""Create events_pruned: per owner, the newest event id the retention prune removed.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events_pruned",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("through_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("events_pruned")
