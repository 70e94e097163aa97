"""Every table of the exchange in one metadata, for Alembic and test set-up."""

from exchange.audit import models as _audit_models  # noqa: F401
from exchange.db import Base
from exchange.identity import models as _identity_models  # noqa: F401
from listings import applications_models as _application_models  # noqa: F401
from listings import models as _listing_models  # noqa: F401

metadata = Base.metadata
