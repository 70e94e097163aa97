"""WeasyPrint rendering, document store and verification."""
