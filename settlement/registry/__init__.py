"""The rights registry: emission and water rights held, traded, pledged, surrendered and delivered.

A second double-entry ledger, of quantity, on the same core as the money ledger
(:mod:`settlement.double_entry`); delivery versus payment posts both ledgers in one database
transaction (:mod:`settlement.registry.delivery`). The rules are in docs/rules.md, "The rights
registry".
"""
