"""The web pages: server-rendered, Chinese-first with an English switch.

This package holds what every page shares (layout, language, the cookie
session, static files); each domain package keeps its own pages beside its
templates (``listings/pages.py`` with ``listings/templates/listings/``).
"""
