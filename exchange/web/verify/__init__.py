"""The verification page for people: what a document is, by its SHA-256 or its printed number."""
