"""A tenant's end users and what they buy: users, subscriptions, transactions, traffic, bot plans, cards.

Every row carries bot_id."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, BigID, JSONType, Timestamps, UTCDateTime

END_USER_SUBSCRIPTION_STATUSES = ("trial", "active", "expired", "cancelled")
RUNNING_STATUSES = ("trial", "active")  # a subscription with one of these runs until its end date
TRANSACTION_KINDS = ("deposit", "subscription_payment", "refund", "withdrawal")
TRANSACTION_STATUSES = ("pending", "succeeded", "failed", "refunded")
ORDER_METHODS = ("telegram_stars", "card_to_card")
ORDER_STATUSES = ("pending", "awaiting_review", "paid", "rejected", "cancelled")
PANEL_ACTIONS = ("sync", "disable")  # create or extend the user's panel account to its subscription; disable it
PANEL_JOB_STATUSES = ("pending", "done")


class User(Timestamps, Base):
    """An end user of one tenant bot."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("bot_id", "telegram_id"),
        Index("ix_users_bot_created", "bot_id", "created_at", postgresql_include=["first_paid_at", "subscribed"]),  # conversion
        Index("ix_users_bot_first_paid", "bot_id", "first_paid_at"),  # purchases
        Index("ix_users_bot_blocked", "bot_id", postgresql_where=text("is_blocked"), sqlite_where=text("is_blocked")),
        Index("ix_users_bot_running_until", "bot_id", "running_until"),  # the active users of today's partial day
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)
    telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(128))
    language_code: Mapped[str | None] = mapped_column(String(8))
    panel_uuid: Mapped[str | None] = mapped_column(String(64))  # the user's account in the VPN panel, once created
    trial_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the trial is taken once
    referred_by_id: Mapped[int | None] = mapped_column(Integer)  # the user of the same bot who invited them
    balance_kopeks: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    # the first succeeded subscription payment's time (NULL: none); kept by the transactions' triggers (migration 0010)
    first_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # whether the user has a subscription in its bot; kept by the subscriptions' triggers (migration 0010)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    # the end of the user's latest running (trial or active) subscription (NULL: none); kept by the subscriptions'
    # triggers (migration 0012)
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subscription(Timestamps, Base):
    """An end user's VPN subscription with one tenant bot."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(f"status IN {END_USER_SUBSCRIPTION_STATUSES}", name="status"),
        # the dashboard's counts read the index alone on PostgreSQL (INCLUDE)
        Index("ix_subscriptions_bot_status", "bot_id", "status", "end_date", postgresql_include=["user_id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False)
    bot_plan_id: Mapped[int | None] = mapped_column(ForeignKey("bot_plans.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    start_date: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end_date: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    traffic_limit_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    traffic_used_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    device_limit: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)
    subscription_url: Mapped[str | None] = mapped_column(String(512))  # from the VPN panel, once provisioned
    # when the renewal reminder of the current period went out (NULL: not yet); an extension clears it
    renewal_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Transaction(Base):
    """Money an end user paid a tenant (or got back); kopeks, idempotent on external id."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(f"kind IN {TRANSACTION_KINDS}", name="kind"),
        CheckConstraint(f"status IN {TRANSACTION_STATUSES}", name="status"),
        UniqueConstraint("bot_id", "payment_method", "external_id"),
        # the dashboard's sums read the index alone on PostgreSQL (INCLUDE); its first payments, the partial one
        Index("ix_transactions_bot_created", "bot_id", "created_at",
              postgresql_include=["kind", "status", "payment_method", "amount_kopeks"]),
        Index("ix_transactions_bot_user_paid", "bot_id", "user_id", "created_at",
              postgresql_where=text("kind = 'subscription_payment' AND status = 'succeeded'"),
              sqlite_where=text("kind = 'subscription_payment' AND status = 'succeeded'")),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="succeeded", server_default="succeeded", nullable=False)
    amount_kopeks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_method: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)


class TransactionDaily(Base):
    """Transactions summed per bot, UTC day of created_at, kind, payment method and status: how many and their amount.

    Kept exact by the database's triggers on `transactions` (migration 0010), whoever writes them: never written here."""

    __tablename__ = "transaction_daily"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_method: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_kopeks: Mapped[int] = mapped_column(BigInteger, nullable=False)


class UserDaily(Base):
    """Users per bot and UTC day: who joined that day (and of them the blocked ones), whose first_paid_at and whose
    running_until fall on it. A row with every count at zero is deleted.

    Kept exact by the database's triggers on `users` (migration 0012), whoever writes them: never written here."""

    __tablename__ = "user_daily"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    joined: Mapped[int] = mapped_column(BigInteger, nullable=False)
    blocked: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_paid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    running_ends: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SubscriptionDaily(Base):
    """Subscriptions per bot, status and UTC day of end_date.

    Kept exact by the database's triggers on `subscriptions` (migration 0012), whoever writes them: never written here."""

    __tablename__ = "subscription_daily"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    end_day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TrafficDaily(Base):
    """Traffic one bot's users consumed and bought on one day, in bytes."""

    __tablename__ = "traffic_daily"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    consumed_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    sold_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)


class BotPlan(Timestamps, Base):
    """A VPN plan a tenant sells to its own end users."""

    __tablename__ = "bot_plans"
    __table_args__ = (
        UniqueConstraint("bot_id", "name"),
        CheckConstraint("price_kopeks >= 0", name="price_not_negative"),
        CheckConstraint("period_days > 0", name="period_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    period_days: Mapped[int] = mapped_column(Integer, nullable=False)
    traffic_limit_gb: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)  # 0: unlimited
    device_limit: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)
    price_kopeks: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)


class TenantPaymentCard(Timestamps, Base):
    """A bank card a bot shows for card-to-card payments (the master's cards take activation fees)."""

    __tablename__ = "tenant_payment_cards"
    __table_args__ = (UniqueConstraint("bot_id", "card_number"), CheckConstraint("weight > 0", name="weight_positive"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True, nullable=False)
    card_number: Mapped[str] = mapped_column(String(32), nullable=False)
    holder_name: Mapped[str] = mapped_column(String(128), nullable=False)
    bank_name: Mapped[str | None] = mapped_column(String(128))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    usage_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)  # completed payments
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)  # for the weighted rotation


class Order(Timestamps, Base):
    """An end user's purchase of one of the bot's plans: created when a payment method is chosen, paid once."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"method IN {ORDER_METHODS}", name="method"),
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status"),
        CheckConstraint("amount_kopeks >= 0", name="amount_not_negative"),
        Index("ix_orders_bot_status", "bot_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False)
    bot_plan_id: Mapped[int | None] = mapped_column(ForeignKey("bot_plans.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_kopeks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stars: Mapped[int | None] = mapped_column(Integer)  # the invoice's amount in Stars
    card_id: Mapped[int | None] = mapped_column(ForeignKey("tenant_payment_cards.id", ondelete="SET NULL"))
    receipt: Mapped[dict | None] = mapped_column(JSONType)  # a card payment's receipt: {"photo_file_id"} or {"text"}
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending", nullable=False)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)  # the tenant admin who approved or rejected a receipt


class PanelJob(Timestamps, Base):
    """A change to make in the VPN panel for one subscription, retried with backoff until done."""

    __tablename__ = "panel_jobs"
    __table_args__ = (
        CheckConstraint(f"action IN {PANEL_ACTIONS}", name="action"),
        CheckConstraint(f"status IN {PANEL_JOB_STATUSES}", name="status"),
        Index("ix_panel_jobs_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(500))
    link_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
