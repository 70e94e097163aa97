"""Groups of affiliated bidders (WCI purchase limits per corporate group; rules.md section 2).

An enterprise declares its group by the unified social credit code of the company that
controls it (``users.group_code``), when it registers or later; declaring none, or its own
code, makes it a group of its own. The credit code links companies: the controlling
company, whose own code others declare, is in their group without declaring anything.
"""

from __future__ import annotations

from exchange.errors import Unprocessable, field_error
from exchange.identity.codes import CodeError, validate_credit_code
from exchange.identity.models import User


def declared_group(kind: str, credit_code: str | None, group_code: str | None) -> str | None:
    """The group code to store: normalised, None for none or the account's own code; 422
    ``group_code_invalid`` for a code that is not a credit code, or a group declared by an
    individual (a group is of companies)."""
    if group_code is None or not group_code.strip():
        return None
    if kind != "enterprise":
        raise _invalid("only an enterprise declares a group", "enterprise_only")
    try:
        code = validate_credit_code(group_code)
    except CodeError as exc:
        raise _invalid(exc.message, exc.reason) from exc
    return None if code == credit_code else code


def group_key(user: User) -> str:
    """What makes two accounts one group: equal keys. Never shown to anyone: a mechanism only
    sees a label standing for it (``auctions.service``)."""
    return user.group_code or user.credit_code or user.id_number or f"user:{user.id}"


def _invalid(message: str, reason: str) -> Unprocessable:
    return Unprocessable(
        f"group_code: {message}",
        code="group_code_invalid",
        errors=[field_error("group_code", message, reason)],
    )
