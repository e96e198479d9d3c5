"""status columns only take known values

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REGISTRATION = ("confirmed", "waitlisted", "cancelled")
OUTBOX = ("pending", "sending", "sent", "failed", "unreachable", "expired")


def _in(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.create_check_constraint("ck_registrations_status", _in(REGISTRATION))
    with op.batch_alter_table("outbox") as batch:
        batch.create_check_constraint("ck_outbox_status", _in(OUTBOX))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("ck_outbox_status", type_="check")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_constraint("ck_registrations_status", type_="check")
