"""The points ledger: the double-entry journal, lots and their expiry, manual adjustments, and
a member's statement."""
