"""Module-level app for ASGI servers: ``uvicorn exchange.asgi:app``."""

from exchange.app import create_app

app = create_app()
