"""the weekly overview: targets, runs, shared outbox bodies, reminder marks and member preferences

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "outbox_bodies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("body_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress", sa.Integer(), server_default="0", nullable=False))
        batch.create_foreign_key("fk_outbox_body_id_outbox_bodies", "outbox_bodies", ["body_id"], ["id"])
        batch.create_index("ix_outbox_body_id", ["body_id"])
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("reminders", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("overview_offered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "overview_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("overview", sa.Boolean(), nullable=False),
        sa.Column("impulses", sa.Boolean(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("added_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.CheckConstraint(_in("kind", ("channel", "group", "room", "member")), name="ck_overview_targets_kind"),
        sa.CheckConstraint(_in("status", ("pending", "active", "removed")), name="ck_overview_targets_status"),
    )
    op.create_index("ix_overview_targets_status", "overview_targets", ["status"])
    op.create_index("ix_overview_targets_member_id", "overview_targets", ["member_id"])
    op.create_table(
        "overview_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("targets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("week"),
    )
    op.create_table(
        "reminder_marks",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "starts_at", "offset_minutes"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("reminder_marks")
    op.drop_table("overview_runs")
    op.drop_index("ix_overview_targets_member_id", table_name="overview_targets")
    op.drop_index("ix_overview_targets_status", table_name="overview_targets")
    op.drop_table("overview_targets")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("overview_offered_at")
        batch.drop_column("reminders")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_body_id")
        batch.drop_constraint("fk_outbox_body_id_outbox_bodies", type_="foreignkey")
        batch.drop_column("progress")
        batch.drop_column("body_id")
    op.drop_table("outbox_bodies")
