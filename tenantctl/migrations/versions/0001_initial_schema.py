"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 22:15:27.647454
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import tenantctl.core.db
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=128), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_bot_at', 'audit_log', ['bot_id', 'at'], unique=False)
    op.create_table('bot_fsm_states',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=255), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_bot_fsm_states'))
    )
    op.create_table('bots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('is_master', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('telegram_id', sa.BigInteger(), nullable=True),
    sa.Column('token_encrypted', sa.Text(), nullable=False),
    sa.Column('token_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('default_language', sa.String(length=8), server_default='ru', nullable=False),
    sa.Column('support_username', sa.String(length=64), nullable=True),
    sa.Column('owner_telegram_id', sa.BigInteger(), nullable=True),
    sa.Column('webhook_secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'active', 'suspended', 'expired', 'cancelled')", name=op.f('ck_bots_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bots')),
    sa.UniqueConstraint('token_fingerprint', name=op.f('uq_bots_token_fingerprint'))
    )
    op.create_index(op.f('ix_bots_username'), 'bots', ['username'], unique=False)
    op.create_index('uq_bots_single_master', 'bots', ['is_master'], unique=True, postgresql_where=sa.text('is_master'), sqlite_where=sa.text('is_master'))
    op.create_table('features',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('env_key', sa.String(length=128), nullable=False),
    sa.Column('env_aliases', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('allowed_values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('default_enabled', sa.Boolean(), nullable=False),
    sa.Column('default_value', sa.String(length=256), nullable=True),
    sa.Column('default_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('config_keys', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('secret_keys', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_present', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("kind IN ('switch', 'mode')", name=op.f('ck_features_kind')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_features'))
    )
    op.create_index(op.f('ix_features_category'), 'features', ['category'], unique=False)
    op.create_table('tenant_subscription_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('monthly_price_kopeks', sa.Integer(), nullable=False),
    sa.Column('activation_fee_kopeks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('grants_all_features', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint('activation_fee_kopeks >= 0', name=op.f('ck_tenant_subscription_plans_fee_not_negative')),
    sa.CheckConstraint('monthly_price_kopeks >= 0', name=op.f('ck_tenant_subscription_plans_price_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_subscription_plans')),
    sa.UniqueConstraint('name', name=op.f('uq_tenant_subscription_plans_name'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('last_used_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_api_tokens_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_tokens_prefix')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_bot_id'), 'api_tokens', ['bot_id'], unique=False)
    op.create_table('bot_admins',
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=16), server_default='admin', nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'admin')", name=op.f('ck_bot_admins_role')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_admins_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'telegram_user_id', name=op.f('pk_bot_admins'))
    )
    op.create_index(op.f('ix_bot_admins_telegram_user_id'), 'bot_admins', ['telegram_user_id'], unique=False)
    op.create_table('bot_configurations',
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('config_key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('encrypted_value', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), server_default='cloned', nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("source IN ('master', 'cloned', 'tenant')", name=op.f('ck_bot_configurations_source')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_configurations_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'config_key', name=op.f('pk_bot_configurations'))
    )
    op.create_table('bot_feature_flags',
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('feature_key', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=True),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("source IN ('default', 'plan', 'override')", name=op.f('ck_bot_feature_flags_source')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_feature_flags_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['feature_key'], ['features.key'], name=op.f('fk_bot_feature_flags_feature_key_features'), onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'feature_key', name=op.f('pk_bot_feature_flags'))
    )
    op.create_index('ix_bot_feature_flags_feature', 'bot_feature_flags', ['feature_key', 'enabled'], unique=False)
    op.create_table('bot_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('period_days', sa.Integer(), nullable=False),
    sa.Column('traffic_limit_gb', sa.Integer(), server_default='0', nullable=False),
    sa.Column('device_limit', sa.Integer(), server_default='1', nullable=False),
    sa.Column('price_kopeks', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint('period_days > 0', name=op.f('ck_bot_plans_period_positive')),
    sa.CheckConstraint('price_kopeks >= 0', name=op.f('ck_bot_plans_price_not_negative')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_plans_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_plans')),
    sa.UniqueConstraint('bot_id', 'name', name=op.f('uq_bot_plans_bot_id_name'))
    )
    op.create_index(op.f('ix_bot_plans_bot_id'), 'bot_plans', ['bot_id'], unique=False)
    op.create_table('plan_feature_grants',
    sa.Column('plan_tier_id', sa.Integer(), nullable=False),
    sa.Column('feature_key', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=True),
    sa.Column('config_override', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['feature_key'], ['features.key'], name=op.f('fk_plan_feature_grants_feature_key_features'), onupdate='CASCADE', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_tier_id'], ['tenant_subscription_plans.id'], name=op.f('fk_plan_feature_grants_plan_tier_id_tenant_subscription_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_tier_id', 'feature_key', name=op.f('pk_plan_feature_grants'))
    )
    op.create_index('idx_plan_feature_grants_enabled', 'plan_feature_grants', ['plan_tier_id', 'enabled'], unique=False, postgresql_where=sa.text('enabled = true'), sqlite_where=sa.text('enabled = 1'))
    op.create_index('idx_plan_feature_grants_plan', 'plan_feature_grants', ['plan_tier_id'], unique=False)
    op.create_table('tenant_feature_overrides',
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('feature_key', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=True),
    sa.Column('value', sa.String(length=64), nullable=True),
    sa.Column('config_override', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('expires_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_tenant_feature_overrides_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['feature_key'], ['features.key'], name=op.f('fk_tenant_feature_overrides_feature_key_features'), onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'feature_key', name=op.f('pk_tenant_feature_overrides'))
    )
    op.create_index(op.f('ix_tenant_feature_overrides_expires_at'), 'tenant_feature_overrides', ['expires_at'], unique=False)
    op.create_table('tenant_payment_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('card_number', sa.String(length=32), nullable=False),
    sa.Column('holder_name', sa.String(length=128), nullable=False),
    sa.Column('bank_name', sa.String(length=128), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_tenant_payment_cards_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_payment_cards')),
    sa.UniqueConstraint('bot_id', 'card_number', name=op.f('uq_tenant_payment_cards_bot_id_card_number'))
    )
    op.create_index(op.f('ix_tenant_payment_cards_bot_id'), 'tenant_payment_cards', ['bot_id'], unique=False)
    op.create_table('tenant_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='draft', nullable=False),
    sa.Column('step', sa.String(length=32), server_default='bot_name', nullable=False),
    sa.Column('bot_name', sa.String(length=64), nullable=True),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('token_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('bot_username', sa.String(length=64), nullable=True),
    sa.Column('bot_telegram_id', sa.BigInteger(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('support_username', sa.String(length=64), nullable=True),
    sa.Column('plan_tier_id', sa.Integer(), nullable=True),
    sa.Column('payment_method', sa.String(length=32), nullable=True),
    sa.Column('fee_kopeks', sa.Integer(), nullable=True),
    sa.Column('bot_id', sa.Integer(), nullable=True),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'awaiting_payment', 'awaiting_review', 'completed', 'cancelled')", name=op.f('ck_tenant_registrations_status')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_tenant_registrations_bot_id_bots'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_tier_id'], ['tenant_subscription_plans.id'], name=op.f('fk_tenant_registrations_plan_tier_id_tenant_subscription_plans'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_registrations'))
    )
    op.create_index('ix_tenant_registrations_user_status', 'tenant_registrations', ['telegram_user_id', 'status'], unique=False)
    op.create_table('tenant_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('plan_tier_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('start_date', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('end_date', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('auto_renewal', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'expired', 'cancelled')", name=op.f('ck_tenant_subscriptions_status')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_tenant_subscriptions_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_tier_id'], ['tenant_subscription_plans.id'], name=op.f('fk_tenant_subscriptions_plan_tier_id_tenant_subscription_plans'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_subscriptions')),
    sa.UniqueConstraint('bot_id', name=op.f('uq_tenant_subscriptions_bot_id'))
    )
    op.create_index('idx_tenant_subscriptions_plan', 'tenant_subscriptions', ['plan_tier_id'], unique=False)
    op.create_index('idx_tenant_subscriptions_status', 'tenant_subscriptions', ['status'], unique=False)
    op.create_index(op.f('ix_tenant_subscriptions_end_date'), 'tenant_subscriptions', ['end_date'], unique=False)
    op.create_table('traffic_daily',
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('consumed_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('sold_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_traffic_daily_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'day', name=op.f('pk_traffic_daily'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('first_name', sa.String(length=128), nullable=True),
    sa.Column('language_code', sa.String(length=8), nullable=True),
    sa.Column('balance_kopeks', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('is_blocked', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_users_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('bot_id', 'telegram_id', name=op.f('uq_users_bot_id_telegram_id'))
    )
    op.create_table('platform_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=True),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='RUB', nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('due_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('invoice_sent_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('receipt', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reviewed_by', sa.BigInteger(), nullable=True),
    sa.Column('reviewed_at', tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("currency IN ('RUB', 'XTR')", name=op.f('ck_platform_payments_currency')),
    sa.CheckConstraint("method IN ('telegram_stars', 'card_to_card', 'manual', 'waived')", name=op.f('ck_platform_payments_method')),
    sa.CheckConstraint("purpose IN ('activation', 'renewal')", name=op.f('ck_platform_payments_purpose')),
    sa.CheckConstraint("status IN ('pending', 'awaiting_review', 'succeeded', 'rejected', 'refunded', 'cancelled')", name=op.f('ck_platform_payments_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_platform_payments_amount_not_negative')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_platform_payments_bot_id_bots'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['tenant_registrations.id'], name=op.f('fk_platform_payments_registration_id_tenant_registrations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_payments')),
    sa.UniqueConstraint('method', 'external_id', name=op.f('uq_platform_payments_method_external_id'))
    )
    op.create_index('ix_platform_payments_bot_status', 'platform_payments', ['bot_id', 'status'], unique=False)
    op.create_index(op.f('ix_platform_payments_registration_id'), 'platform_payments', ['registration_id'], unique=False)
    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('bot_plan_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('start_date', tenantctl.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_date', tenantctl.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('traffic_limit_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('traffic_used_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('device_limit', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('trial', 'active', 'expired', 'cancelled')", name=op.f('ck_subscriptions_status')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_subscriptions_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['bot_plan_id'], ['bot_plans.id'], name=op.f('fk_subscriptions_bot_plan_id_bot_plans'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    op.create_index('ix_subscriptions_bot_status', 'subscriptions', ['bot_id', 'status'], unique=False)
    op.create_index(op.f('ix_subscriptions_user_id'), 'subscriptions', ['user_id'], unique=False)
    op.create_table('transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='succeeded', nullable=False),
    sa.Column('amount_kopeks', sa.BigInteger(), nullable=False),
    sa.Column('payment_method', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("kind IN ('deposit', 'subscription_payment', 'refund', 'withdrawal')", name=op.f('ck_transactions_kind')),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'refunded')", name=op.f('ck_transactions_status')),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_transactions_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_transactions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('bot_id', 'payment_method', 'external_id', name=op.f('uq_transactions_bot_id_payment_method_external_id'))
    )
    op.create_index('ix_transactions_bot_created', 'transactions', ['bot_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_transactions_user_id'), 'transactions', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transactions_user_id'), table_name='transactions')
    op.drop_index('ix_transactions_bot_created', table_name='transactions')
    op.drop_table('transactions')
    op.drop_index(op.f('ix_subscriptions_user_id'), table_name='subscriptions')
    op.drop_index('ix_subscriptions_bot_status', table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_index(op.f('ix_platform_payments_registration_id'), table_name='platform_payments')
    op.drop_index('ix_platform_payments_bot_status', table_name='platform_payments')
    op.drop_table('platform_payments')
    op.drop_table('users')
    op.drop_table('traffic_daily')
    op.drop_index(op.f('ix_tenant_subscriptions_end_date'), table_name='tenant_subscriptions')
    op.drop_index('idx_tenant_subscriptions_status', table_name='tenant_subscriptions')
    op.drop_index('idx_tenant_subscriptions_plan', table_name='tenant_subscriptions')
    op.drop_table('tenant_subscriptions')
    op.drop_index('ix_tenant_registrations_user_status', table_name='tenant_registrations')
    op.drop_table('tenant_registrations')
    op.drop_index(op.f('ix_tenant_payment_cards_bot_id'), table_name='tenant_payment_cards')
    op.drop_table('tenant_payment_cards')
    op.drop_index(op.f('ix_tenant_feature_overrides_expires_at'), table_name='tenant_feature_overrides')
    op.drop_table('tenant_feature_overrides')
    op.drop_index('idx_plan_feature_grants_plan', table_name='plan_feature_grants')
    op.drop_index('idx_plan_feature_grants_enabled', table_name='plan_feature_grants', postgresql_where=sa.text('enabled = true'), sqlite_where=sa.text('enabled = 1'))
    op.drop_table('plan_feature_grants')
    op.drop_index(op.f('ix_bot_plans_bot_id'), table_name='bot_plans')
    op.drop_table('bot_plans')
    op.drop_index('ix_bot_feature_flags_feature', table_name='bot_feature_flags')
    op.drop_table('bot_feature_flags')
    op.drop_table('bot_configurations')
    op.drop_index(op.f('ix_bot_admins_telegram_user_id'), table_name='bot_admins')
    op.drop_table('bot_admins')
    op.drop_index(op.f('ix_api_tokens_bot_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_table('tenant_subscription_plans')
    op.drop_index(op.f('ix_features_category'), table_name='features')
    op.drop_table('features')
    op.drop_index('uq_bots_single_master', table_name='bots', postgresql_where=sa.text('is_master'), sqlite_where=sa.text('is_master'))
    op.drop_index(op.f('ix_bots_username'), table_name='bots')
    op.drop_table('bots')
    op.drop_table('bot_fsm_states')
    op.drop_index('ix_audit_log_bot_at', table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
