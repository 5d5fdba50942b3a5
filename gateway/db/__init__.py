from gateway.db.base import Base, TimestampedMixin, utcnow
from gateway.db.session import Database

__all__ = ["Base", "Database", "TimestampedMixin", "utcnow"]
