"""``exchange serve`` with no environment at all starts on SQLite and is healthy."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import Server, base_env


def test_serve_with_no_environment(tmp_path: Path) -> None:
    server = Server(base_env(), cwd=tmp_path).start()
    try:
        health = httpx.get(f"{server.url}/healthz").json()
        assert health["status"] == "ok"
        assert health["database"]["dialect"] == "sqlite"
        assert health["redis"] == {"ok": True, "configured": False}
        assert health["scheduler"]["running"] is True
        assert (tmp_path / "var" / "exchange.db").exists()
        assert httpx.get(f"{server.url}/schema/openapi.json").status_code == 200
    finally:
        server.stop()
