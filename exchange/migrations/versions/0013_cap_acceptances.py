"""挂牌 acceptances of the cap price with their sealed nonces: no schema change.

The nonces live in the auction's state and in the ``bid.accepted`` audit entries,
which already hold JSON; the revision keeps the numbering of issue 15's parts.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
