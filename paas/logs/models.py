"""Log drains in the state database: one row per drain, gone with its app (cascade)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, new_id, utcnow


class LogDrain(Base):
    __tablename__ = "log_drains"
    __table_args__ = (UniqueConstraint("app_id", "url"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(40), unique=True)  # d.<uuid>, not a secret
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
