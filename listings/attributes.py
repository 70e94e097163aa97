"""Typed attribute schemas of the five asset classes, validated field by field.

``validate_attributes`` reads the untyped ``attributes`` object of a listing
and returns either the typed Struct or *every* problem found, each as a
``FieldError`` with a dotted path (``attributes.plot_ratio.min``) and a stable
code. msgspec alone stops at the first error, so the fields are read by a
small collecting reader here and only the clean result goes through
``msgspec.convert`` (which re-checks the types for free). What each field takes (kind,
bounds, decimal places, choices) is read from its description in
:mod:`listings.attribute_fields`; what depends on other fields (legal maximum terms, mixed-use
shares, conditional requirements, registration numbers) is checked here.

Numbers are Decimal strings (ints accepted), never floats: areas, volumes and
ratios are quantities whose last digit matters in a contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import msgspec

from exchange.vocabulary import ASSET_CLASSES
from listings.attribute_fields import (
    ATTRIBUTE_FIELDS,
    AttributeField,
    IpType,
    LandUse,
    OutputUnit,
    Pollutant,
    ReserveUnit,
    RightType,
    SingleUse,
    SupplyMode,
    TransactionForm,
    WaterTradeType,
    WaterUse,
)
from listings.fields import FieldError, Reader, parse_decimal

__all__ = [
    "ATTRIBUTE_TYPES",
    "LEGAL_MAX_TERM_YEARS",
    "UNITS",
    "AssetAttributes",
    "EmissionRight",
    "FieldError",
    "LandUseRight",
    "MiningRight",
    "Technology",
    "UnitInfo",
    "WaterRight",
    "validate_attributes",
]


# --- land use right (国有建设用地使用权) -------------------------------------
# 城镇国有土地使用权出让和转让暂行条例 art. 12. public_services = 教育、科技、
# 文化、卫生、体育用地; mixed = 综合或者其他用地.
LEGAL_MAX_TERM_YEARS: dict[str, int] = {
    "residential": 70,
    "industrial": 50,
    "public_services": 50,
    "commercial": 40,
    "tourism": 40,
    "entertainment": 40,
    "mixed": 50,
}


class PlotRatio(msgspec.Struct, frozen=True):
    """容积率 range from the planning conditions; a missing bound is open."""

    min: Decimal | None = None
    max: Decimal | None = None


class StandardLand(msgspec.Struct, frozen=True):
    """标准地 indicators (mostly industrial land); units are in the names."""

    investment_wan_yuan_per_mu: Decimal  # 投资强度, 万元/亩
    output_wan_yuan_per_mu: Decimal  # 亩均产出, 万元/亩
    tax_wan_yuan_per_mu: Decimal  # 亩均税收, 万元/亩
    energy_tce_per_wan_yuan: Decimal  # 单位能耗, 吨标准煤/万元


class LandUseRight(msgspec.Struct, frozen=True):
    parcel_code: str  # 地块编号 as announced
    location: str
    admin_division_code: str  # 6-digit GB/T 2260 code
    area_m2: Decimal
    land_use: LandUse
    plot_ratio: PlotRatio
    building_density: Decimal  # upper limit, ratio 0..1
    green_ratio: Decimal  # ratio 0..1
    term_years: int
    supply_mode: SupplyMode
    mixed_use_shares: dict[SingleUse, Decimal] | None = None
    standard_land: StandardLand | None = None


# --- mining right (探矿权 / 采矿权) ------------------------------------------
# 自然资规〔2023〕6号: exploration registered 5 years at a time; 矿产资源开采
# 登记管理办法 art. 7: a mining licence runs at most 30 years (large mines).
MINING_MAX_TERM_YEARS: dict[str, int] = {"exploration": 5, "mining": 30}
# China's extent with a margin, in CGCS2000 geographic degrees.
LON_RANGE = (Decimal(73), Decimal(136))
LAT_RANGE = (Decimal(3), Decimal(54))


class Reserves(msgspec.Struct, frozen=True):
    quantity: Decimal
    unit: ReserveUnit


class ProductionScale(msgspec.Struct, frozen=True):
    quantity: Decimal
    unit: OutputUnit


class MiningRight(msgspec.Struct, frozen=True):
    right_type: RightType
    mineral: str
    area_km2: Decimal
    boundary: tuple[tuple[Decimal, Decimal], ...]  # (lon, lat) corner points, open ring
    term_years: int
    crs: Literal["CGCS2000"] = "CGCS2000"
    reserves: Reserves | None = None  # required for mining rights
    production_scale: ProductionScale | None = None  # mining rights only


# --- emission right (排污权 / 碳排放权) --------------------------------------


class EmissionRight(msgspec.Struct, frozen=True):
    pollutant: Pollutant
    quantity: Decimal  # tonnes per year, 3 places (kg)
    region: str  # region or basin the right may be used in
    unit: Literal["t/a"] = "t/a"
    validity_years: int = 5
    region_code: str | None = None
    basin: str | None = None


# --- water right (水权) -------------------------------------------------------
# 取水许可和水资源费征收管理条例 art. 25: a permit runs at most 10 years, so a
# trade of permitted abstraction cannot outlast it. Other trades: sanity bound.
WATER_MAX_TERM_YEARS: dict[str, int] = {
    "abstraction_permit": 10,
    "regional": 50,
    "irrigation_user": 50,
}


class WaterRight(msgspec.Struct, frozen=True):
    trade_type: WaterTradeType
    water_source: str
    volume: Decimal  # m3 per year, whole cubic metres
    term_years: int
    use: WaterUse
    region: str
    unit: Literal["m3/a"] = "m3/a"
    region_code: str | None = None


# --- technology (技术产权 / 知识产权) ----------------------------------------
# CNIPA application number since 2003: year, type digit, 7-digit serial, check.
_PATENT_RE = re.compile(r"(?:ZL|CN)?([0-9]{4})([0-9])([0-9]{7})\.([0-9X])")
_PATENT_TYPE_DIGITS: dict[str, str] = {
    "invention_patent": "18",  # 8 = PCT entering the national phase
    "utility_model": "29",
    "design": "3",
}
_SOFTWARE_RE = re.compile(r"[0-9]{4}SR[0-9]{6,7}")  # 软著登字 number


class Technology(msgspec.Struct, frozen=True):
    ip_type: IpType
    holder: str
    transaction_form: TransactionForm
    registration_number: str | None = None  # none for know-how
    term_years: int | None = None  # licence term; an assignment has none
    state_owned: bool = False  # 20 WD disclosure instead of 7 days


AssetAttributes = LandUseRight | MiningRight | EmissionRight | WaterRight | Technology

ATTRIBUTE_TYPES: dict[str, type[AssetAttributes]] = {
    "land_use_right": LandUseRight,
    "mining_right": MiningRight,
    "emission_right": EmissionRight,
    "water_right": WaterRight,
    "technology": Technology,
}


class UnitInfo(msgspec.Struct, frozen=True):
    """Display units: the unit price, and the traded quantity of divisible rights."""

    price_unit: str
    quantity_unit: str | None = None
    quantity_places: int | None = None  # fixed scale of the traded quantity


UNITS: dict[str, UnitInfo] = {
    "land_use_right": UnitInfo(price_unit="元/m²"),  # per m² of area_m2 (楼面价 aside)
    "mining_right": UnitInfo(price_unit="元"),
    "emission_right": UnitInfo(price_unit="元/t", quantity_unit="t/a", quantity_places=3),
    "water_right": UnitInfo(price_unit="元/m³", quantity_unit="m3/a", quantity_places=0),
    "technology": UnitInfo(price_unit="元"),
}


def validate_attributes(
    asset_class: str, raw: object, path: str = "attributes"
) -> tuple[AssetAttributes | None, list[FieldError]]:
    """Validate ``raw`` against the schema of ``asset_class``.

    Returns ``(attributes, [])`` or ``(None, errors)`` with every error found.
    """
    readers: dict[str, Callable[[Reader], None]] = {
        "land_use_right": _read_land,
        "mining_right": _read_mining,
        "emission_right": _read_emission,
        "water_right": _read_water,
        "technology": _read_technology,
    }
    if asset_class not in readers:
        choices = ", ".join(ASSET_CLASSES)
        return None, [FieldError("asset_class", "choice_invalid", f"must be one of {choices}")]
    reader = Reader.root(raw, path)
    if reader is None:
        return None, [FieldError(path, "type_invalid", "must be an object")]
    if nul := _nul_errors(raw, path):
        return None, nul
    readers[asset_class](reader)
    reader.reject_unknown()
    if reader.errors:
        return None, reader.errors
    target = ATTRIBUTE_TYPES[asset_class]
    return msgspec.convert(reader.out, target), []


def _nul_errors(value: object, path: str) -> list[FieldError]:
    """Every text holding a NUL character: PostgreSQL stores none, in a column or in JSON.

    Attributes are kept as JSON, where a NUL made the insert fail (a 500), while
    SQLite kept it; so both refuse it here, before the readers strip and compare text.
    """
    if isinstance(value, str):
        return (
            [FieldError(path, "nul_character", "may not contain NUL characters")] if "\x00" in value else []
        )
    errors: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if "\x00" in name:  # named by its repr: the name itself is not printable
                errors.append(
                    FieldError(f"{path}.{name[:64]!r}", "nul_character", "a name may not contain NUL")
                )
            else:
                errors.extend(_nul_errors(item, f"{path}.{name}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors.extend(_nul_errors(item, f"{path}[{i}]"))
    return errors


def _fields(asset_class: str) -> dict[str, AttributeField]:
    return {f.key: f for f in ATTRIBUTE_FIELDS[asset_class]}


def _read(r: Reader, field: AttributeField, *, required: bool | None = None) -> object:
    """One field as its description says; ``required`` overrides the description's."""
    need = field.required if required is None else required
    name = field.key
    if field.kind == "text":
        return r.text(name, max_len=field.max_len, required=need)
    if field.kind == "code":
        r.admin_code(name, required=need)
        return None
    if field.kind == "decimal":
        return r.decimal(
            name,
            places=field.places,
            gt=_bound(field.gt),
            ge=_bound(field.ge),
            le=_bound(field.le),
            required=need,
        )
    if field.kind == "int":
        number = field.default if isinstance(field.default, int) else None
        return r.integer(name, ge=field.ge, le=field.le, default=number, required=need)
    if field.kind == "choice":
        text = field.default if isinstance(field.default, str) else None
        return r.choice(name, field.values, default=text, code=field.code, aliases=field.aliases)
    if field.kind == "bool":
        r.boolean(name, default=bool(field.default))
        return None
    raise ValueError(f"{field.key}: a {field.kind} is read by its class's reader")


def _bound(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _read_group(r: Reader, field: AttributeField, *, required: bool) -> None:
    """A nested object whose members are all read as described, and nothing else."""
    child = r.child(field.key, required=required)
    if child is not None:
        for member in field.fields:
            _read(child, member)
        child.reject_unknown()


def _read_land(r: Reader) -> None:
    f = _fields("land_use_right")
    for name in ("parcel_code", "location", "admin_division_code", "area_m2"):
        _read(r, f[name])
    use = r.choice("land_use", f["land_use"].values)
    _read_shares(r, use, f["mixed_use_shares"])
    plot_ratio = f["plot_ratio"]
    ratio = r.child("plot_ratio")
    if ratio is not None:
        lo, hi = (_read(ratio, member) for member in plot_ratio.fields)
        if "min" not in ratio.raw and "max" not in ratio.raw:
            r.error("plot_ratio", "required", "give at least one of min and max")
        elif isinstance(lo, Decimal) and isinstance(hi, Decimal) and lo > hi:
            ratio.error("min", "range_inverted", f"min {lo} is above max {hi}")
        ratio.reject_unknown()
    _read(r, f["building_density"])
    _read(r, f["green_ratio"])
    term = r.integer("term_years", ge=f["term_years"].ge)
    if use is not None and term is not None and term > LEGAL_MAX_TERM_YEARS[use]:
        r.error(
            "term_years",
            "term_exceeds_legal_max",
            f"{term} years exceeds the legal maximum of "
            f"{LEGAL_MAX_TERM_YEARS[use]} years for {use} land (出让最高年限)",
        )
    _read(r, f["supply_mode"])
    _read_group(r, f["standard_land"], required=False)


def _read_shares(r: Reader, use: str | None, field: AttributeField) -> None:
    name = field.key
    if use is not None and use != "mixed":
        if r.raw.get(name) is not None:
            r.error(name, "not_applicable", "shares are given only for mixed land use")
        r.consume(name)
        return
    shares = r.child(name, required=use == "mixed")
    if shares is None:
        return
    singles = {member.key: member for member in field.fields}
    total = Decimal(0)
    for key in list(shares.raw):
        if key not in singles:
            shares.error(key, "choice_invalid", f"must be one of {', '.join(singles)}")
            shares.consume(key)
            continue
        share = _read(shares, singles[key], required=True)
        total += share if isinstance(share, Decimal) else 0
    if len(shares.raw) < 2:
        r.error(name, "shares_invalid", "mixed land use needs shares of at least two uses")
    elif not shares.errors_added and total != 1:
        r.error(name, "shares_invalid", f"shares must sum to 1, they sum to {total}")


def _read_mining(r: Reader) -> None:
    f = _fields("mining_right")
    kind = r.choice("right_type", f["right_type"].values)
    for name in ("mineral", "area_km2", "crs"):
        _read(r, f[name])
    _read_boundary(r)
    term = r.integer("term_years", ge=f["term_years"].ge)
    if kind is not None and term is not None and term > MINING_MAX_TERM_YEARS[kind]:
        r.error(
            "term_years",
            "term_exceeds_legal_max",
            f"{term} years exceeds the maximum of {MINING_MAX_TERM_YEARS[kind]} years "
            f"for a{'n' if kind == 'exploration' else ''} {kind} right",
        )
    for name in ("reserves", "production_scale"):
        if kind == "exploration":
            # An exploration right has neither proven reserves nor output yet.
            if r.raw.get(name) is not None:
                r.error(name, "not_applicable", "only a mining right has " + name)
            r.consume(name)
            continue
        _read_group(r, f[name], required=kind == "mining")


def _read_boundary(r: Reader) -> None:
    """Corner points (拐点) as [lon, lat] pairs; a repeated closing point is dropped."""
    raw = r.get("boundary", required=True)
    if raw is None:
        return
    if not isinstance(raw, list):
        r.error("boundary", "type_invalid", "must be a list of [lon, lat] pairs")
        return
    points: list[tuple[Decimal, Decimal]] = []
    for i, pair in enumerate(raw):
        where = f"boundary[{i}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            r.error(where, "type_invalid", "must be a [lon, lat] pair")
            continue
        (lon, lon_code, lon_msg), (lat, lat_code, lat_msg) = (parse_decimal(v, 8) for v in pair)
        if lon is None or lat is None:
            r.error(where, lon_code or lat_code, lon_msg or lat_msg)
        elif not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
            r.error(where, "coordinate_out_of_range", f"({lon}, {lat}) lies outside China")
        else:
            points.append((lon, lat))
    if len(points) != len(raw):
        return
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(set(points)) < 3:
        r.error("boundary", "polygon_too_few_points", "a polygon needs at least 3 distinct points")
    elif _shoelace(points) == 0:
        r.error("boundary", "polygon_degenerate", "collinear points: the polygon has no area")
    else:
        r.out["boundary"] = tuple(points)


def _shoelace(points: list[tuple[Decimal, Decimal]]) -> Decimal:
    pairs = zip(points, points[1:] + points[:1], strict=True)
    return sum((x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairs), Decimal(0))


def _read_emission(r: Reader) -> None:
    for field in ATTRIBUTE_FIELDS["emission_right"]:
        _read(r, field)


def _read_water(r: Reader) -> None:
    f = _fields("water_right")
    kind = r.choice("trade_type", f["trade_type"].values)
    for name in ("water_source", "volume", "unit"):
        _read(r, f[name])
    term = r.integer("term_years", ge=f["term_years"].ge)
    if kind is not None and term is not None and term > WATER_MAX_TERM_YEARS[kind]:
        r.error(
            "term_years",
            "term_exceeds_legal_max",
            f"{term} years exceeds the maximum of {WATER_MAX_TERM_YEARS[kind]} years "
            f"for a {kind.replace('_', ' ')} trade",
        )
    for name in ("use", "region", "region_code"):
        _read(r, f[name])


def _read_technology(r: Reader) -> None:
    f = _fields("technology")
    ip = r.choice("ip_type", f["ip_type"].values)
    _read(r, f["holder"])
    form = r.choice("transaction_form", f["transaction_form"].values)
    number = _read(r, f["registration_number"], required=ip not in (None, "know_how"))
    if isinstance(number, str) and ip is not None:
        normalized = number.replace(" ", "").upper()
        problem = _registration_problem(ip, normalized)
        if problem:
            r.error("registration_number", "format_invalid", problem)
        else:
            r.out["registration_number"] = normalized
    licence = form is not None and form != "assignment"
    _read(r, f["term_years"], required=licence)
    _read(r, f["state_owned"])


def _registration_problem(ip: str, number: str) -> str | None:
    if ip == "software_copyright":
        ok = _SOFTWARE_RE.fullmatch(number) is not None
        return None if ok else "expected a software registration number like 2023SR0123456"
    if ip == "know_how":
        return None  # an internal reference; know-how is not registered
    match = _PATENT_RE.fullmatch(number)
    if match is None:
        return "expected a patent number like ZL202310123456.7"
    if match.group(2) not in _PATENT_TYPE_DIGITS[ip]:
        return f"type digit {match.group(2)} does not denote a {ip.replace('_', ' ')}"
    return None
