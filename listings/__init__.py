"""Asset classes, statutory profiles, listing lifecycle and applications."""
