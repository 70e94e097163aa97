"""Every code the code base can answer with has a Chinese and an English message.

The codes are found by reading the source (not from a list kept by hand), so a
new code without a message fails here, not on a Chinese page.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import listings.attribute_fields  # noqa: F401  (registers the attributes' names)
from exchange import messages

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exchange", "listings", "auctions", "settlement", "documents")
CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

# Callables that carry a code as a positional argument: name -> the argument's index.
POSITIONAL = {
    "Rejection": 0,
    "TokenError": 0,
    "CodeError": 0,
    "Violation": 0,
    "FieldError": 1,
    "field_error": 2,
    "problem": 1,
    "error": 1,  # listings.fields.Reader.error(name, code, message)
    "err": 1,  # listings.methods' collector err(field, code, message)
    "_money": 3,
    "_text": 1,  # settlement.objection_decisions
}
# Callables whose positional argument is a field error's code only when named so.
NAMED_POSITIONAL = {"_invalid": {"exchange/identity/groups.py": 1}}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value
    return None


def _message(node: ast.expr) -> bool:
    """An English sentence for people: words with spaces, in a literal or an f-string."""
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
    return bool(re.search(r"[a-z]+ [a-z]+", text))


def _a_check_triple(node: ast.AST, where: str) -> bool:
    """A pair or triple holding an English sentence, outside the pages (whose option triples are labels)."""
    return (
        isinstance(node, ast.Tuple)
        and len(node.elts) in (2, 3)
        and not where.startswith("exchange/web")
        and any(map(_message, node.elts))
    )


def _suffix(node: ast.expr | None) -> str | None:
    """``f"{name}_invalid"`` -> ``_invalid``: a code built from a field's name."""
    if isinstance(node, ast.JoinedStr) and len(node.values) == 2:
        head, tail = node.values
        if isinstance(head, ast.FormattedValue) and isinstance(tail, ast.Constant):
            text = str(tail.value)
            if text.startswith("_") and CODE.match(text[1:]):
                return text
    return None


def scan() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Literal codes and built codes' suffixes, each with the files they occur in."""
    codes: dict[str, set[str]] = {}
    suffixes: dict[str, set[str]] = {}

    def found(node: ast.expr | None, where: str) -> None:
        if (code := _literal(node)) is not None:
            codes.setdefault(code, set()).add(where)
        elif (suffix := _suffix(node)) is not None:
            suffixes.setdefault(suffix, set()).add(where)

    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if "/migrations/" in where or "/demo/" in where or where == "exchange/messages.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg == "code":
                            found(keyword.value, where)
                    name = _name(node.func)
                    index = POSITIONAL.get(name or "")
                    if index is None:
                        index = NAMED_POSITIONAL.get(name or "", {}).get(where)
                    if index is not None and len(node.args) > index:
                        found(node.args[index], where)
                elif isinstance(node, ast.ClassDef):
                    for item in node.body:
                        targets = item.targets if isinstance(item, ast.Assign) else []
                        if isinstance(item, ast.AnnAssign):
                            targets = [item.target]
                        if any(_name(t) == "code" for t in targets):
                            found(getattr(item, "value", None), where)
                elif _a_check_triple(node, where):
                    # (code, message, field) and (value, code, message) triples returned by checks
                    for element in node.elts[:2]:
                        if (code := _literal(element)) is not None and "_" in code:
                            codes.setdefault(code, set()).add(where)
    return codes, suffixes


CODES, SUFFIXES = scan()


def test_the_scan_finds_the_known_codes() -> None:
    """The scanner itself works: it sees codes of each kind of source."""
    for code in (
        "bid_below_minimum",  # a mechanism's Rejection
        "not_found",  # a class attribute
        "csrf_failed",  # a keyword argument
        "token_expired",  # TokenError
        "wrong_check_character",  # CodeError, a field error's code
        "required",  # listings.fields.Reader.error
        "deposit_below_minimum",  # a profile's Violation
        "calendar_not_covered",  # a (code, message, field) triple
        "too_many_decimal_places",  # a (value, code, message) triple
        "method_not_allowed",  # problem() in exchange.errors
    ):
        assert code in CODES, code
    assert {"_invalid", "_required"} <= set(SUFFIXES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_has_both_messages(code: str) -> None:
    assert code in messages.MESSAGES, f"{code} (raised in {sorted(CODES[code])}) has no message"
    zh, en = messages.MESSAGES[code]
    assert zh and en


def test_codes_built_from_field_names_have_a_message_by_suffix() -> None:
    for suffix in SUFFIXES:
        assert suffix in messages.SUFFIX_MESSAGES, suffix
        assert messages.field_message(f"quantity{suffix}", "quantity", "zh")


ALLOWED_LATIN = {"GB", "CGCS", "SHA", "PDF", "ID", "CSRF", "JSON", "UTC", "HMAC"}


@pytest.mark.parametrize("table", ["MESSAGES", "SUFFIX_MESSAGES", "FIELD_MESSAGES", "FIELD_NAMES"])
def test_chinese_messages_are_chinese(table: str) -> None:
    for key, (zh, en) in getattr(messages, table).items():
        assert re.search(r"[\u4e00-\u9fff]", zh), (key, zh)
        words = set(re.findall(r"[A-Za-z]+", re.sub(r"\{[a-z_]+\}", "", zh)))
        assert words <= ALLOWED_LATIN, (key, zh, words - ALLOWED_LATIN)
        assert not re.search(r"[\u4e00-\u9fff]", re.sub(r"（[^）]*）|\([^)]*\)", "", en)), (key, en)


def test_templates_fill_from_the_problem_and_never_fail() -> None:
    params = {"next_min_bid": "1020000.00"}
    assert "1,020,000.00" in messages.detail("bid_below_minimum", "zh", params)
    assert "1,020,000.00" in messages.detail("bid_below_minimum", "en", params)
    # a missing or odd parameter leaves the sentence readable, never a KeyError or "{...}"
    for code in messages.MESSAGES:
        for lang in ("zh", "en"):
            text = messages.detail(code, lang, {"field": "{x}", "x": "{0}"})
            assert "{" not in text.replace("{x}", "").replace("{0}", "")
    assert messages.detail("bid_below_minimum", "zh", {}) == messages.detail("bid_below_minimum", "zh")
    # an unknown code still gets a sentence in the language
    assert re.search(r"[\u4e00-\u9fff]", messages.detail("some_future_code", "zh"))


def test_field_messages_name_the_field_in_chinese() -> None:
    assert messages.field_message("required", "title", "zh") == "请填写：标题"
    assert messages.field_message("required", "title", "en") == "Please fill in: title"
    assert (
        messages.field_message("wrong_check_character", "credit_code", "zh")
        == "统一社会信用代码校验位不符（GB 32100-2015）"
    )
    assert "用户名" in messages.field_message("password_contains_username", "password", "zh")
    # a nested path is named by its last known part
    assert "容积率" in messages.field_message("range_inverted", "attributes.plot_ratio.min", "zh")


@pytest.mark.parametrize(
    ("query", "header", "lang"),
    [
        (None, None, "zh"),
        (None, "en", "en"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en;q=0.5,zh-CN;q=0.9", "zh"),
        (None, "fr, en;q=0.8", "en"),
        (None, "fr", "zh"),
        (None, "*", "zh"),
        (None, "en;q=0", "zh"),
        (None, "garbage;;q=x,,", "zh"),
        ("en", "zh-CN", "en"),
        ("zh", "en", "zh"),
        ("de", "en", "en"),
    ],
)
def test_language_of_a_request(query: str | None, header: str | None, lang: str) -> None:
    assert messages.language(query, header) == lang
