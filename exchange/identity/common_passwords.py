"""Passwords that meet the length and character rules and are still among the first an attacker tries.

Leaked-password lists are topped by a few words and keyboard walks with digits
appended (``Password12``, ``Qwerty1234``, ``P@ssw0rd12`` and ``1qaz2wsx3edc`` were
all accepted before), and Chinese lists add pinyin and number idioms
(``woaini1314``, ``5201314``). Rather than ship a list of leaked passwords, a
candidate is reduced to its core (lower case, digits and symbols stripped
from both ends, common symbol-for-letter swaps undone) and refused when that core
is one of these words or walks or shorter than three characters, or when the
whole password is a walk or a run of digits. A password built around any other word passes.
"""

from __future__ import annotations

import re

WORDS = frozenset(
    {
        "password", "passw", "passwd", "pass", "pwd", "admin", "administrator", "root", "user",
        "login", "welcome", "letmein", "iloveyou", "love", "hello", "monkey", "dragon", "master",
        "shadow", "sunshine", "princess", "football", "baseball", "superman", "batman", "trustno",
        "secret", "changeme", "default", "test", "guest", "abc", "abcd", "abcde", "abcdef",
        "abcdefg", "abcdefgh", "qwe", "qwer", "qwert", "qwerty", "qwertyu", "qwertyui",
        "qwertyuiop", "asd", "asdf", "asdfg", "asdfgh", "asdfghjkl", "zxc", "zxcv", "zxcvb",
        "zxcvbn", "zxcvbnm", "qaz", "qazwsx", "qazwsxedc", "qwaszx", "aaa", "aaaa", "aaaaa",
        "woaini", "aini", "woaiwojia", "nihao", "wangyi", "zhang", "wang", "li", "liu", "chen",
        "china", "beijing", "shanghai", "exchange", "jiaoyi", "auction", "bidder", "company",
        "a", "aa", "q", "qq", "x", "z", "p",
    }
)  # fmt: skip

WALKS = (
    "1234567890",
    "0987654321",
    "1qaz2wsx3edc4rfv",
    "qazwsxedcrfv",
    "1q2w3e4r5t6y",
    "q1w2e3r4t5y6",
    "a1b2c3d4e5f6",
    "zaq1xsw2cde3",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "5201314",
    "1314520",
    "147258369",
    "123123123",
    "789456123",
    "159357",
)

_UNLEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "l", "3": "e", "$": "s", "5": "s", "!": "i"})
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def _is_walk(text: str) -> bool:
    """Part of a known walk or digit run, repeated or not (``1qaz2wsx3edc``, ``123456789012``)."""
    if text.isdigit() and len(set(text)) <= 3:
        return True
    return any(text in walk * 3 for walk in WALKS)


def is_common(password: str) -> bool:
    lowered = password.lower()
    core = _EDGES.sub("", lowered)
    if len(core) < 3:  # a run of digits with a letter or two
        return True
    return any(_is_walk(text) or text in WORDS for text in (lowered, core, core.translate(_UNLEET)))
