"""Imports every models module so Base.metadata knows every table.

Alembic and the tests read the metadata from here, and every adapter imports it before it opens the
database, so a foreign key from one domain's table to another's always resolves.
"""

from tenantctl.audit import models as audit_models  # noqa: F401
from tenantctl.billing import models as billing_models  # noqa: F401
from tenantctl.core import conversation  # noqa: F401
from tenantctl.core import models as core_models  # noqa: F401
from tenantctl.core.db import Base
from tenantctl.customers import models as customers_models  # noqa: F401
from tenantctl.flags import models as flags_models  # noqa: F401
from tenantctl.onboarding import models as onboarding_models  # noqa: F401
from tenantctl.plans import models as plans_models  # noqa: F401
from tenantctl.tenants import models as tenants_models  # noqa: F401

metadata = Base.metadata
