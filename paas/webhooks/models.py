"""App webhooks in the state database. The signing secret is kept here (the state database
lives under PAAS_HOME, 0700) and never leaves the daemon except as a signature."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, new_id, utcnow


class AppWebhook(Base):
    __tablename__ = "app_webhooks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    include: Mapped[list[Any]] = mapped_column(JSON, default=list)
    level: Mapped[str] = mapped_column(String(10))  # notify | sync
    secret: Mapped[str] = mapped_column(Text)
    authorization: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
