"""Every table of the exchange in one metadata, for Alembic and test set-up."""

from auctions import models as _auction_models  # noqa: F401
from documents import models as _document_models  # noqa: F401
from exchange.audit import models as _audit_models  # noqa: F401
from exchange.db import Base
from exchange.identity import models as _identity_models  # noqa: F401
from exchange.transparency import models as _transparency_models  # noqa: F401
from listings import applications_models as _application_models  # noqa: F401
from listings import calendar_models as _calendar_models  # noqa: F401
from listings import models as _listing_models  # noqa: F401
from settlement import bank as _bank_models  # noqa: F401
from settlement import models as _settlement_models  # noqa: F401
from settlement import notice_models as _notice_models  # noqa: F401
from settlement import objection_models as _objection_models  # noqa: F401
from settlement import settlement_models as _settlement_tables  # noqa: F401
from settlement.registry import models as _registry_models  # noqa: F401

metadata = Base.metadata
