"""The operator console: listings (dashboard, form, one listing) and settlements."""
