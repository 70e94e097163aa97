"""The public results (成交公示)."""
