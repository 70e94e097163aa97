"""A valid attributes object of every asset class (each test copies before changing it).

The sample lives in ``listings.samples`` so the demo and the benchmarks share it
without importing the test suite.
"""

from __future__ import annotations

from typing import Any

from listings.samples import SAMPLE_ATTRIBUTES

VALID: dict[str, dict[str, Any]] = SAMPLE_ATTRIBUTES
