"""Log in and out of the pages (staff and bidders alike)."""
