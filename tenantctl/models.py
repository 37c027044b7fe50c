"""Imports every models module so Base.metadata knows every table (used by Alembic, the app and tests)."""

from tenantctl.audit import models as audit_models  # noqa: F401
from tenantctl.billing import models as billing_models  # noqa: F401
from tenantctl.bot import models as bot_models  # noqa: F401
from tenantctl.core.db import Base
from tenantctl.customers import models as customers_models  # noqa: F401
from tenantctl.flags import models as flags_models  # noqa: F401
from tenantctl.onboarding import models as onboarding_models  # noqa: F401
from tenantctl.plans import models as plans_models  # noqa: F401
from tenantctl.tenants import models as tenants_models  # noqa: F401

metadata = Base.metadata
