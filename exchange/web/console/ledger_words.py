"""The settlement page's ledger and schedule in words: account codes, memos and instalment labels.

The ledger keeps machine words (``deposit:123``, ``late fees through 2026-03-01: 4500``) so that
postings stay idempotent and greppable; the page says them in the reader's language from the
tables of ``exchange.vocabulary`` and never shows a raw code or an English memo on a Chinese page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from exchange.vocabulary import (
    LEDGER_ACCOUNT_LABELS,
    LEDGER_MEMO_LABELS,
    SETTLEMENT_STATUS_LABELS,
    Label,
)

__all__ = ["account_words", "memo_words"]

_LATIN = re.compile(r"[A-Za-z]{2,}")


def account_words(code: str, lang: str) -> str:
    """``deposit:123`` -> ``竞买保证金 123``; ``receivable:4:56`` -> ``应收竞得人款项 4-56``."""
    kind, _, rest = code.partition(":")
    found = LEDGER_ACCOUNT_LABELS.get(kind)
    if found is None:
        return code
    name = found.in_language(lang)
    return f"{name} {rest.replace(':', '-')}" if rest else name


def _status(key: str) -> Label:
    return SETTLEMENT_STATUS_LABELS.get(key, Label(key, key))


def _fen(text: str) -> str:
    return f"{int(text) / 100:,.2f}" if text.lstrip("-").isdigit() else text


# A memo that carries a value: its pattern, and the words made of its groups.
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Label]], ...] = (
    (
        re.compile(r"late fees through (\d{4}-\d{2}-\d{2}): (-?\d+)$"),
        lambda m: Label(
            f"违约金计至 {m[1]}，累计 {_fen(m[2])} 元", f"Late fees through {m[1]}: {_fen(m[2])} yuan"
        ),
    ),
    (
        re.compile(r"collected by (.+) on (\d{4}-\d{2}-\d{2})$"),
        lambda m: Label(f"{m[1]}于 {m[2]} 征收", f"Collected by {m[1]} on {m[2]}"),
    ),
    (re.compile(r"refund (\d+)$"), lambda m: Label(f"退款指令 {m[1]}", f"Refund {m[1]}")),
    (
        re.compile(r"winner disqualified: (.*)$", re.S),
        lambda m: Label(f"竞得人资格审查未通过：{m[1]}", f"Winner disqualified: {m[1]}"),
    ),
    (
        re.compile(r"sale annulled: (.*)$", re.S),
        lambda m: Label(f"成交无效：{m[1]}", f"Sale annulled: {m[1]}"),
    ),
    (re.compile(r"rescinded: (.*)$", re.S), lambda m: Label(f"解除合同：{m[1]}", f"Rescinded: {m[1]}")),
    (
        re.compile(r"settlement_(\w+)$"),
        lambda m: Label(
            f"结算状态为“{_status(m[1]).zh}”，款项转入待查",
            f"Settlement {_status(m[1]).en}: held in suspense",
        ),
    ),
)


def memo_words(memo: str, lang: str) -> str:
    """A transaction's memo as people read it; an unknown English memo is left out of a Chinese page
    (the kind beside it says what happened) and shown as it is in English."""
    text = memo.strip()
    if not text:
        return ""
    found = LEDGER_MEMO_LABELS.get(text)
    if found is not None:
        return found.in_language(lang)
    for pattern, say in _PATTERNS:
        match = pattern.match(text)
        if match:
            return say(match).in_language(lang)
    if lang != "en" and _LATIN.search(text):
        return ""
    return text
