"""The direction of imports and the place of the pages, checked by tools rather than by reading.

The contracts live in pyproject.toml (``[tool.importlinter]``); this runs them, so
``make test`` fails on a backwards import or a cycle, and checks what they cannot
say themselves: that the two written-out kernel lists agree, and that the pages'
templates and static files, merged into one search path each, never shadow one another.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from exchange.web.routes import STATIC_DIRECTORIES, TEMPLATE_DIRECTORIES

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("listings", "auctions", "settlement", "documents")


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_kernel_is_listed_the_same_everywhere() -> None:
    """The shell contract (exhaustive) and the kernel contract must name the same kernel."""
    contracts = _contracts()
    bottom = str(contracts["shell"]["layers"][-1])  # type: ignore[index]
    layered = {"exchange." + name.strip() for name in bottom.split(":")}
    assert layered == set(contracts["kernel"]["source_modules"])  # type: ignore[arg-type]


def test_no_pages_in_the_domain_packages() -> None:
    for domain in DOMAINS:
        package = ROOT / domain
        assert not list(package.rglob("*pages*.py")), (
            f"{domain} holds pages: they go in exchange/web/<feature>/"
        )
        assert not list(package.rglob("console_*.py")), f"{domain} holds console pages"
        assert not (package / "page_templates").exists()
        # documents/templates holds the PDF templates, which are no pages.
        if domain != "documents":
            assert not (package / "templates").exists(), (
                f"{domain}/templates: page templates go to exchange/web/"
            )


def _names(directories: list[Path]) -> list[str]:
    return [
        str(path.relative_to(directory))
        for directory in directories
        if directory.is_dir()
        for path in directory.rglob("*")
        if path.is_file()
    ]


def test_templates_and_static_files_do_not_shadow_one_another() -> None:
    """Each list is one search path: a name found twice would silently serve the first."""
    for names in (_names(TEMPLATE_DIRECTORIES), _names(STATIC_DIRECTORIES)):
        assert names
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
