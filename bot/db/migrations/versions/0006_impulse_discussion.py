"""the impulse discussion: posted impulses, contributions and their copies, message aliases

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("impulses") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=8), server_default="file", nullable=False))
        batch.add_column(sa.Column("created_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("overview_targets") as batch:
        batch.add_column(sa.Column("mirror", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        "message_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("original_chat_id", sa.String(length=255), nullable=False),
        sa.Column("original_message_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id"),
    )
    op.create_index(
        "ix_message_aliases_original",
        "message_aliases",
        ["platform", "original_chat_id", "original_message_id"],
    )
    op.create_table(
        "impulse_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("impulse_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("outbox_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["impulse_id"], ["impulses.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("impulse_id", "platform", "chat_id"),
        sa.UniqueConstraint("outbox_key"),
    )
    op.create_index("ix_impulse_posts_impulse_id", "impulse_posts", ["impulse_id"])
    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("impulse_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("author_id", sa.String(length=255), nullable=False),
        sa.Column("author_name", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["impulse_id"], ["impulses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["contributions.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("platform", "chat_id", "message_id"),
    )
    op.create_index("ix_contributions_impulse_id", "contributions", ["impulse_id"])
    op.create_index("ix_contributions_author_id", "contributions", ["author_id"])
    op.create_index("ix_contributions_created_at", "contributions", ["created_at"])
    op.create_table(
        "contribution_mirrors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contribution_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("outbox_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("contribution_id", "platform", "chat_id"),
        sa.UniqueConstraint("outbox_key"),
    )
    op.create_index("ix_contribution_mirrors_contribution_id", "contribution_mirrors", ["contribution_id"])


def downgrade() -> None:
    op.drop_table("contribution_mirrors")
    op.drop_table("contributions")
    op.drop_table("impulse_posts")
    op.drop_index("ix_message_aliases_original", table_name="message_aliases")
    op.drop_table("message_aliases")
    with op.batch_alter_table("overview_targets") as batch:
        batch.drop_column("mirror")
    with op.batch_alter_table("impulses") as batch:
        batch.drop_column("posted_at")
        batch.drop_column("created_by")
        batch.drop_column("origin")
