"""The earning flow: a recorded sale or refund turned into ledger entries, one at a time and
set-based for runs of sales, and the quote of what a sale would earn."""
