"""Alembic environment: runs on the connection the app hands over (see bot.db.session)."""

from alembic import context

from bot.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
