"""Settings: every ``EXCHANGE_*`` variable is read in one place, checked when loaded, and documented.

Pure: no database, no app. ``load_settings`` is given its environment as a mapping.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from exchange.settings import PasswordSettings, load_settings
from exchange.settlement_terms import DEFAULT_FEE_SCHEDULES, DEFAULT_PAYMENT_SCHEDULES, Bracket, Term
from settlement.fees import service_fee

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exchange", "listings", "auctions", "settlement", "documents")
THE_READER = ROOT / "exchange" / "settings.py"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXCHANGE_ARGON2_TIME_COST", "0"),
        ("EXCHANGE_ARGON2_TIME_COST", "three"),
        ("EXCHANGE_ARGON2_MEMORY_KIB", "16"),  # Argon2 needs 8 KiB per lane, and hashes with 4
        ("EXCHANGE_ARGON2_MEMORY_KIB", "64MiB"),
        ("EXCHANGE_FEE_SCHEDULES", "not json"),
        ("EXCHANGE_FEE_SCHEDULES", '{"gold": []}'),
        ("EXCHANGE_FEE_SCHEDULES", '{"water_right": [[null, "1001"]]}'),
        ("EXCHANGE_PAYMENT_SCHEDULES", "{"),
        ("EXCHANGE_PAYMENT_SCHEDULES", '{"water_right": [{"label": "a", "share": "0.5", "months": 1}]}'),
        ("EXCHANGE_DOCUMENT_WORKERS", "0"),
        ("EXCHANGE_DOCUMENT_WORKERS", "two"),
        ("EXCHANGE_DOCUMENT_TIMEOUT_SECONDS", "0"),
        ("EXCHANGE_DOCUMENT_TIMEOUT_SECONDS", "-5"),
        ("EXCHANGE_DOCUMENT_TIMEOUT_SECONDS", "nan"),
        ("EXCHANGE_DOCUMENT_TIMEOUT_SECONDS", "soon"),
        ("EXCHANGE_PUBLIC_URL", "exchange.example.org"),
        ("EXCHANGE_PUBLIC_URL", "ftp://exchange.example.org"),
        ("EXCHANGE_PUBLIC_URL", "https://"),
        ("EXCHANGE_DATABASE_POOL_SIZE", "ten"),
        ("EXCHANGE_TOKEN_TTL_SECONDS", "-1"),
        ("EXCHANGE_BID_RATE_PER_SECOND", "1.5"),
        ("EXCHANGE_BID_JUMP_WARNING_INCREMENTS", "0"),
        ("EXCHANGE_PROFILE", "lenient"),
        ("EXCHANGE_SIGNED_BIDS_REQUIRED", "land_use_right,gold"),
        ("EXCHANGE_TREE_HEAD_SECONDS", "0"),
    ],
)
def test_a_bad_value_stops_the_load_and_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        load_settings({variable: value})


def test_the_values_are_read_into_their_settings() -> None:
    settings = load_settings(
        {
            "EXCHANGE_ARGON2_TIME_COST": "1",
            "EXCHANGE_ARGON2_MEMORY_KIB": "8192",
            "EXCHANGE_FEE_SCHEDULES": '{"emission_right": [[null, "2"]]}',
            "EXCHANGE_PAYMENT_SCHEDULES": '{"water_right": [{"label": "full", "share": "1", "months": 2}]}',
            "EXCHANGE_DOCUMENT_WORKERS": "3",
            "EXCHANGE_DOCUMENT_TIMEOUT_SECONDS": "12.5",
            "EXCHANGE_PUBLIC_URL": "https://exchange.example.org/",
            "EXCHANGE_BANK_SECRET": "bank",
            "EXCHANGE_SIGNED_BIDS_REQUIRED": " land_use_right, mining_right ",
            "EXCHANGE_TREE_HEAD_SECONDS": "5",
        }
    )
    assert settings.signed_bids_required == {"land_use_right", "mining_right"}
    assert settings.tree_head_seconds == 5
    assert settings.passwords == PasswordSettings(time_cost=1, memory_kib=8192)
    fees = settings.settlement.fee_schedules
    assert fees["emission_right"] == (Bracket(None, Fraction(2)),)
    assert fees["land_use_right"] == DEFAULT_FEE_SCHEDULES["land_use_right"]
    assert service_fee("emission_right", 1_000_000, fees) == 2_000
    payments = settings.settlement.payment_schedules
    assert payments["water_right"] == (Term("full", Fraction(1), months=2),)
    assert payments["land_use_right"] == DEFAULT_PAYMENT_SCHEDULES["land_use_right"]
    documents = settings.documents
    assert (documents.workers, documents.timeout_seconds) == (3, 12.5)
    assert documents.public_url == "https://exchange.example.org"  # printed with /api/v1/... after it
    assert settings.security.secret_is_ephemeral and not settings.security.bank_secret_is_ephemeral


def test_unset_and_empty_mean_the_defaults() -> None:
    for environ in ({}, dict.fromkeys(_read_by_settings(), "")):
        settings = load_settings(environ)
        assert settings.passwords == PasswordSettings(time_cost=3, memory_kib=65536)
        assert settings.settlement.fee_schedules == DEFAULT_FEE_SCHEDULES
        assert settings.settlement.payment_schedules == DEFAULT_PAYMENT_SCHEDULES
        assert settings.documents.workers is None  # the renderer's own: two, one on a single CPU
        assert settings.documents.timeout_seconds == 30
        assert settings.documents.public_url == "http://127.0.0.1:8000"
        assert settings.security.bank_secret_is_ephemeral
        assert settings.signed_bids_required == frozenset() and settings.tree_head_seconds == 60


class _Asked(dict[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.names.add(key)
        return super().get(key, default)


def _read_by_settings() -> set[str]:
    asked = _Asked()
    load_settings(asked)
    return asked.names


def test_the_readme_lists_every_variable_the_settings_read() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(EXCHANGE_[A-Z0-9_]+)` \|", section, re.MULTILINE))
    assert listed == _read_by_settings()


def _environment_reads(path: Path) -> list[str]:
    """Where a module touches the process environment: ``os.environ``, ``os.getenv`` and the like."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found.extend(
                f"{path.relative_to(ROOT)}:{node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in names
            )
    return found


def test_only_the_settings_read_the_environment() -> None:
    """Everything else is handed its part of ``Settings``, so nothing reads a variable at import
    or behind the settings' checks."""
    modules = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert THE_READER in modules
    reads = [read for path in modules if path != THE_READER for read in _environment_reads(path)]
    assert reads == []
    assert _environment_reads(THE_READER)  # the check itself sees a read


def test_the_settlement_and_the_documents_follow_the_profile() -> None:
    """Under the sandbox a 公示 counts seconds: the settlement counts them so, the documents say so."""
    sandbox = load_settings({"EXCHANGE_PROFILE": "sandbox"})
    assert sandbox.settlement.profile == "sandbox" and sandbox.documents.sandbox
    statutory = load_settings({})
    assert statutory.settlement.profile == "statutory" and not statutory.documents.sandbox
    assert replace(statutory, profile="sandbox").documents.sandbox  # as the demo and the tests switch
