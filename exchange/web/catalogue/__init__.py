"""The public catalogue: the list of listings and one listing's announcement."""
