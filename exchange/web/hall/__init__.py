"""The bidding hall (竞价大厅): one auction live."""
