"""The ledger in one import: ``from settlement import ledger`` gives the double-entry core
(:mod:`settlement.double_entry`: accounts, balanced postings, balances), the deposit bookings
(:mod:`settlement.deposits`) and the refunds (:mod:`settlement.refunds`).

Nothing is defined here, so a name means the same wherever it is imported from.
"""

from __future__ import annotations

from settlement.deposits import (
    Booked,
    book_deposit,
    book_suspense,
    deposit_code,
    held_deposit,
    release_deposit,
)
from settlement.double_entry import (
    AccountMismatch,
    DuplicateReference,
    Leg,
    UnbalancedTransaction,
    account,
    balance,
    balances_for_owner,
    entries_of,
    find_account,
    legs_of,
    post,
    post_once,
    transaction_by_reference,
    transactions_of,
    trial_balance,
    unbalanced_transactions,
)
from settlement.refunds import (
    BANK_CLEARING,
    REFUND_WORKING_DAYS,
    REFUNDS_PAYABLE,
    SUSPENSE,
    PaidReferenceInUse,
    RefundAlreadyPaid,
    RefundNotFound,
    bank_clearing,
    instruct_refund,
    mark_refund_paid,
    refund_csv,
    refund_due,
    refunds,
    refunds_payable,
)

__all__ = [
    "BANK_CLEARING",
    "REFUNDS_PAYABLE",
    "REFUND_WORKING_DAYS",
    "SUSPENSE",
    "AccountMismatch",
    "Booked",
    "DuplicateReference",
    "Leg",
    "PaidReferenceInUse",
    "RefundAlreadyPaid",
    "RefundNotFound",
    "UnbalancedTransaction",
    "account",
    "balance",
    "balances_for_owner",
    "bank_clearing",
    "book_deposit",
    "book_suspense",
    "deposit_code",
    "entries_of",
    "find_account",
    "held_deposit",
    "instruct_refund",
    "legs_of",
    "mark_refund_paid",
    "post",
    "post_once",
    "refund_csv",
    "refund_due",
    "refunds",
    "refunds_payable",
    "release_deposit",
    "transaction_by_reference",
    "transactions_of",
    "trial_balance",
    "unbalanced_transactions",
]
