"""The key verifier: which TENANTCTL_SECRET_KEY this database's secrets are written with."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, Timestamps


class KeyVerifier(Timestamps, Base):
    """One row: `SecretBox.verifier()` of the key, stored on first use and replaced by `db rotate-key`."""

    __tablename__ = "key_verifier"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    verifier: Mapped[str] = mapped_column(String(64), nullable=False)
