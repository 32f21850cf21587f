"""Alembic migrations of the service's schema (`sessions-server migrate`)."""
