"""Double-entry ledger, deposits, payments, refunds, fees and defaults."""
