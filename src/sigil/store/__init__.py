"""Persistence: SQLAlchemy models, Alembic migrations, sealing of secrets, the audit chain."""
