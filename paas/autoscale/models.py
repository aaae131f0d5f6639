"""One autoscaling monitor per app (its web formation), kept across daemon restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, new_id, utcnow


class AutoscaleMonitor(Base):
    __tablename__ = "autoscale_monitors"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    process_type: Mapped[str] = mapped_column(String(60), default="web")
    min_quantity: Mapped[int] = mapped_column(Integer)
    max_quantity: Mapped[int] = mapped_column(Integer)
    p95_ms: Mapped[int] = mapped_column(Integer)  # the desired p95 response time
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    notifications: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
