"""Reading untyped JSON objects field by field, collecting every error.

msgspec stops at the first error; a listing form needs all of them at once,
each with its dotted path (``attributes.plot_ratio.min``) and a stable code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One problem with one input field; ``field`` is a dotted path."""

    field: str  # e.g. "attributes.plot_ratio.min", "attributes.boundary[2]"
    code: str  # stable, machine-readable
    message: str  # English, for people


# GB/T 2260 province-level prefixes: a 6-digit code outside them is a typo.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def parse_decimal(value: object, places: int) -> tuple[Decimal | None, str, str]:
    """``(number, "", "")`` or ``(None, code, message)``; floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None, "type_invalid", 'must be a decimal string such as "12.5" (not a float)'
    if isinstance(value, str) and (len(value) > 40 or not _DECIMAL_RE.fullmatch(value)):
        return None, "type_invalid", f'{value!r} is not a decimal string such as "12.5"'
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return None, "too_many_decimal_places", f"at most {places} decimal places"
    return number, "", ""


class Reader:
    """Reads one untyped object field by field, collecting every error.

    Generic, but kept beside its only user; move it (with ``FieldError`` and
    ``parse_decimal``) to its own module once another reader of raw input
    needs it.

    Clean values land in ``out`` (nested readers share the error list and put
    their own ``out`` in the parent's), ready for ``msgspec.convert``.
    """

    def __init__(self, raw: dict[str, object], path: str, errors: list[FieldError]) -> None:
        self.raw, self.path, self.errors = raw, path, errors
        self.out: dict[str, object] = {}
        self._seen: set[str] = set()
        self._first_error = len(errors)

    @classmethod
    def root(cls, raw: object, path: str) -> Reader | None:
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            return None
        return cls(raw, path, [])

    @property
    def errors_added(self) -> bool:
        return len(self.errors) > self._first_error

    def where(self, name: str) -> str:
        return f"{self.path}.{name}"

    def error(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(self.where(name), code, message))

    def consume(self, name: str) -> None:
        self._seen.add(name)

    def reject_unknown(self) -> None:
        for key in self.raw:
            if key not in self._seen:
                self.error(key, "unknown_field", "is not a field of this object")

    def get(self, name: str, required: bool) -> object:
        self._seen.add(name)
        value = self.raw.get(name)
        if value is None and required:
            self.error(name, "required", "is required")
        return value

    def text(self, name: str, *, max_len: int = 200, required: bool = True) -> str | None:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(name, "type_invalid", "must be a non-empty string")
            return None
        if len(value.strip()) > max_len:
            self.error(name, "too_long", f"at most {max_len} characters")
            return None
        self.out[name] = value.strip()
        return value.strip()

    def choice(
        self,
        name: str,
        choices: tuple[str, ...],
        *,
        default: str | None = None,
        code: str = "choice_invalid",
        aliases: Mapping[str, str] | None = None,
    ) -> str | None:
        value = self.get(name, required=default is None)
        if value is None:
            value = default
        if isinstance(value, str) and aliases:
            value = aliases.get(value, value)
        for choice in choices:
            if value == choice:
                self.out[name] = choice
                return choice
        if value is not None:
            self.error(name, code, f"{value!r} is not one of {', '.join(choices)}")
        return None

    def decimal(
        self,
        name: str,
        *,
        places: int,
        gt: Decimal | None = None,
        ge: Decimal | None = None,
        le: Decimal | None = None,
        required: bool = True,
    ) -> Decimal | None:
        value = self.get(name, required)
        if value is None:
            return None
        number, code, message = parse_decimal(value, places)
        if number is None:
            self.error(name, code, message)
            return None
        for bound, ok, words in (
            (gt, gt is None or number > gt, "greater than"),
            (ge, ge is None or number >= ge, "at least"),
            (le, le is None or number <= le, "at most"),
        ):
            if not ok:
                self.error(name, "out_of_range", f"must be {words} {bound}, got {number}")
                return None
        self.out[name] = number
        return number

    def integer(
        self,
        name: str,
        *,
        ge: int | None = None,
        le: int | None = None,
        default: int | None = None,
        required: bool = True,
    ) -> int | None:
        value = self.get(name, required and default is None)
        if value is None:
            value = default
            if value is None:
                return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, "type_invalid", "must be a whole number")
            return None
        if (ge is not None and value < ge) or (le is not None and value > le):
            span = f"between {ge} and {le}" if le is not None else f"at least {ge}"
            self.error(name, "out_of_range", f"must be {span}, got {value}")
            return None
        self.out[name] = value
        return value

    def boolean(self, name: str, *, default: bool) -> None:
        value = self.get(name, required=False)
        if value is not None and not isinstance(value, bool):
            self.error(name, "type_invalid", "must be true or false")
        else:
            self.out[name] = default if value is None else value

    def admin_code(self, name: str, *, required: bool = True) -> None:
        value = self.get(name, required)
        if value is None:
            return
        if isinstance(value, str) and re.fullmatch(r"[0-9]{6}", value) and int(value[:2]) in _PROVINCES:
            self.out[name] = value
        else:
            self.error(name, "format_invalid", "must be a 6-digit administrative division code")

    def child(self, name: str, *, required: bool = True) -> Reader | None:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.error(name, "type_invalid", "must be an object")
            return None
        child = Reader(value, self.where(name), self.errors)
        self.out[name] = child.out
        return child
