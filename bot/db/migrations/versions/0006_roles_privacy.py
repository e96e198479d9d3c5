"""roles in the database; registrations outlive an erased member anonymously

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
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform", "user_id"),
        sa.CheckConstraint("role IN ('member', 'manager', 'admin')", name="ck_roles_role"),
        sa.CheckConstraint("source IN ('settings', 'invitation')", name="ck_roles_source"),
    )


    with op.batch_alter_table("registrations") as batch:
        batch.alter_column("member_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM registrations WHERE member_id IS NULL")
    with op.batch_alter_table("registrations") as batch:
        batch.alter_column("member_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("roles")
