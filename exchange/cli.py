"""The ``exchange`` command: serve, migrate, manage accounts, import the calendar, check the audit log,
verify a result's bundle offline."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from exchange.logs import logging_config
from exchange.settings import Settings
from exchange.settings import get_settings as _load_settings

T = TypeVar("T")


def get_settings() -> Settings:
    """The settings, or a one-line error naming the variable that is wrong (no traceback)."""
    try:
        return _load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _prepare(settings: Settings) -> None:
    if settings.database.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)


def _with_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one unit of work against the configured database."""
    from exchange.db import create_engine, session_factory, unit_of_work

    settings = get_settings()

    async def run() -> T:
        engine = create_engine(settings.database)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _upgrade(upgrade: Callable[..., None], *args: str) -> None:
    """Upgrade the schema; a revision that refuses says why and what to do, without a traceback."""
    from exchange.migrate import MigrationRefused

    try:
        upgrade(*args)
    except MigrationRefused as exc:
        click.echo(f"exchange: the database upgrade stopped: {exc}", err=True)
        sys.exit(2)


@click.group(help="公共资源交易平台 — the unified public resource trading exchange.")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    try:
        log_format = _load_settings().log_format
    except ValueError:  # the command itself names the wrong variable (get_settings), without a traceback
        log_format = "text"
    logging.config.dictConfig(logging_config(log_format, logging.DEBUG if verbose else logging.INFO))


@main.command(help="Serve the exchange over HTTP (migrates the database first).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--no-migrate", is_flag=True, help="Do not upgrade the schema before serving.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes (each with its own timers; closing and bids are safe across processes).",
)
def serve(host: str, port: int, no_migrate: bool, workers: int) -> None:
    import uvicorn

    from exchange.app import create_app
    from exchange.migrate import upgrade

    settings = get_settings()
    if workers > 1:
        _check_shared_state(settings)
    _prepare(settings)
    if settings.migrate_on_start and not no_migrate:
        _upgrade(upgrade, settings.database.url)
    click.echo(
        f"exchange: serving on http://{host}:{port} ({settings.database.url.split(':')[0]}, "
        f"profile {settings.profile})"
    )
    # uvicorn applies its own logging set-up unless given one: ours, at the level -v chose
    log_config = logging_config(settings.log_format, logging.getLogger().level)
    if workers > 1:  # every worker builds its app from the same environment
        uvicorn.run(
            "exchange.app:create_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_config=log_config,  # each worker process sets its logging up from it
            log_level="info",
            access_log=False,
        )
        return
    uvicorn.run(
        create_app(settings), host=host, port=port, log_config=log_config, log_level="info", access_log=False
    )


def _check_shared_state(settings: Settings) -> None:
    """Several workers must share their keys and their live channels, or they split the exchange.

    A random key per process would make a login valid on one worker only (and a result bundle's
    signature change from one request to the next), and in-memory
    channels would keep a bid taken by one worker from the watchers of another.
    """
    missing = [
        name
        for name, value in (
            ("EXCHANGE_SECRET_KEY", None if settings.security.secret_is_ephemeral else "set"),
            ("EXCHANGE_BANK_SECRET", None if settings.security.bank_secret_is_ephemeral else "set"),
            ("EXCHANGE_REDIS_URL", settings.redis.url),
            ("EXCHANGE_SIGNING_KEY", settings.security.signing_key),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"--workers > 1 needs {', '.join(missing)} set, shared by every worker")


@main.command(
    help=(
        "Run a demo exchange: serve with the sandbox profile on a fresh SQLite file under "
        "var/demo/ (or --database-url), add an operator, an auditor and a registrar, seed bidders and a listing "
        "of every asset class and mechanism through the HTTP API, let bot bidders bid in live "
        "auctions, and print "
        "the address and the logins. Ctrl-C stops it."
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--database-url", default=None, help="Seed this database instead of a fresh var/demo/demo.db.")
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=10),
    help="Multiply every schedule offset and bot pause (0.1: ten times faster).",
)
def demo(host: str, port: int, database_url: str | None, time_scale: float) -> None:
    from exchange.demo import Options, run

    get_settings()  # a wrong variable is a one-line error here, not a traceback from the runner
    run(Options(host=host, port=port, database_url=database_url, time_scale=time_scale))


@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Upgrade the schema to the newest migration.")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    from exchange.migrate import upgrade

    settings = get_settings()
    _prepare(settings)
    _upgrade(upgrade, settings.database.url, revision)
    click.echo(f"database upgraded to {revision}")


@main.group(help="Staff accounts.")
def users() -> None:
    pass


@users.command("add", help="Create a staff account (operator, auditor, admin or registrar).")
@click.option(
    "--role",
    type=click.Choice(["operator", "auditor", "admin", "registrar"]),
    required=True,
    help="What the account may do.",
)
@click.option("--username", required=True, help="Login name.")
@click.option(
    "--password",
    required=True,
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters with letters and digits; prompted when omitted.",
)
@click.option("--display-name", default=None, help="Name shown in documents and logs.")
def users_add(role: str, username: str, password: str, display_name: str | None) -> None:
    from exchange.errors import ExchangeError
    from exchange.identity.passwords import Passwords
    from exchange.identity.services import create_staff

    passwords = Passwords(get_settings().passwords)

    async def work(session: Any) -> Any:
        return await create_staff(
            session,
            passwords=passwords,
            username=username,
            password=password,
            role=role,  # type: ignore[arg-type]
            display_name=display_name,
            actor="cli",
        )

    try:
        user = _with_session(work)
    except ExchangeError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from exc
    click.echo(f"created {user.role} '{user.username}' (id {user.id})")


@users.command(
    "duplicates",
    help=(
        "List legal entities (credit code or ID number) with more than one bidder account. "
        "Migration 0010 refuses to run while any exist: keep one account per entity and detach "
        "the others with `exchange users detach-entity`."
    ),
)
def users_duplicates() -> None:
    from exchange.identity.services import shared_entities

    groups = _with_session(shared_entities)
    if not groups:
        click.echo("no legal entity has more than one account")
        return
    for column, code, accounts in groups:
        click.echo(f"{column} {code}:")
        for user in accounts:
            state = "active" if user.active else "disabled"
            click.echo(
                f"  account {user.id} '{user.username}' ({user.display_name}), {state}, since {user.created_at:%Y-%m-%d}"
            )
    sys.exit(1)


@users.command(
    "detach-entity",
    help=(
        "Disable USER_ID, a surplus bidder account of a legal entity, and take the entity's code "
        "off it (kept as detached_code, audited). Its tokens stop working at once."
    ),
)
@click.argument("user_id", type=int)
@click.option("--reason", required=True, help="Why this account is not the entity's own (audited).")
def users_detach_entity(user_id: int, reason: str) -> None:
    from exchange.errors import ExchangeError
    from exchange.identity.services import detach_entity

    async def work(session: Any) -> Any:
        return await detach_entity(session, user_id, reason, actor="cli")

    try:
        user = _with_session(work)
    except ExchangeError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from exc
    click.echo(f"account {user.id} '{user.username}' disabled; code {user.detached_code} detached from it")


@main.group(help="The working-day calendar (工作日历): the State Council's yearly holiday notice.")
def calendar() -> None:
    pass


@calendar.command(
    "import",
    short_help="Load a year of the State Council's holiday notice from FILE.",
    help=(
        "Load one year of the State Council's holiday notice from FILE, a UTF-8 CSV file: "
        "'year,YYYY', 'source,TEXT' (the notice), then 'DATE,holiday' or 'DATE,workday' rows "
        "(DATE is YYYY-MM-DD or a range YYYY-MM-DD/YYYY-MM-DD; workday: a weekend worked, 调休); "
        "'#' starts a comment (docs/rules.md, section 12). The file is checked and the import "
        "audited. The year replaces the chinesecalendar package's table for that year; running "
        "servers use it within seconds."
    ),
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(file: Path) -> None:
    from exchange.errors import ExchangeError
    from listings.calendar_file import parse_calendar
    from listings.calendar_store import import_year

    try:
        parsed = parse_calendar(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"calendar_file_invalid: {file} is not UTF-8 text") from exc
    except ExchangeError as exc:
        raise click.ClickException(f"{exc.code}: {file}: {exc.detail}") from exc

    async def work(session: Any) -> bool:
        return await import_year(session, parsed, actor="cli")

    table = parsed.table
    if not _with_session(work):
        click.echo(f"{table.year} is already imported from this notice ({parsed.source}); nothing changed")
        return
    click.echo(
        f"imported {table.year} from {file} ({parsed.source}): {len(table.holidays)} holidays, "
        f"{len(table.workdays)} weekend days worked (调休)"
    )


@main.group(help="The hash-chained audit log.")
def audit() -> None:
    pass


@audit.command(
    "verify",
    help=(
        "Recompute the hash chains (all streams, or STREAM), check every head recorded outside them "
        "(documents, auction closes) against them, and name the first disagreement."
    ),
)
@click.argument("stream", required=False)
def audit_verify(stream: str | None) -> None:
    from documents.results import recorded_heads
    from exchange.audit import chain

    async def work(session: Any) -> list[chain.ChainReport]:
        if stream:
            names = [stream]
        else:
            async with chain.read_snapshot(session) as snapshot:
                names = await chain.streams(snapshot)
        reports = []
        with click.progressbar(names, label="verifying", file=sys.stderr) as bar:
            # a snapshot per stream: one for the whole run would keep PostgreSQL from vacuuming
            # the rows every bid updates for as long as the run takes
            for name in bar:
                reports.append(await chain.verify_stream(session, name, recorded_heads))
        return reports

    reports = _with_session(work)
    broken = [r for r in reports if not r.ok]
    for report in reports:
        if report.ok:
            click.echo(f"ok      {report.stream}: {report.entries} entries, head {report.head}")
        elif report.recorded_by is not None:
            click.echo(f"BROKEN  {report.stream}: {report.reason}")
        else:
            click.echo(f"BROKEN  {report.stream}: entry {report.broken_at}: {report.reason}")
    if not reports:
        click.echo("no audit streams yet")
    sys.exit(1 if broken else 0)


@audit.command(
    "replay",
    help="Recompute LISTING_ID's auction outcome from its audit log and compare it with the stored one.",
)
@click.argument("listing_id", type=int)
def audit_replay(listing_id: int) -> None:
    from auctions.audit_replay import ReplayReport, replay_listing

    async def work(session: Any) -> ReplayReport:
        return await replay_listing(session, listing_id)

    report = _with_session(work)
    entries = report.entries - report.bids
    click.echo(
        f"listing {listing_id}: {report.bids} bids replayed"
        + (f" (and {entries} acceptances of the cap price: lottery entries, not bids)" if entries else "")
    )
    click.echo(f"stored:   {report.stored}")
    click.echo(f"replayed: {report.replayed}")
    click.echo("MATCH" if report.matches else "MISMATCH")
    sys.exit(0 if report.matches else 1)


@main.command(
    help=(
        "Check a result's verifiable bundle (GET /api/v1/results/{id}/bundle, saved as BUNDLE) offline, "
        "with no database, server or network: the exchange's signature, the replay of the bids through "
        "the published mechanism, the reserve commitment, the draw, the documents' digests and their "
        "inclusion in the transparency log. Exits 0 when every check holds (通过 / VERIFIED), 1 naming "
        "each mismatch (不通过 / FAILED), 2 when nothing failed but the transparency log has not taken "
        "every leaf in yet, or the bundle carries no transparency block (未完全核验 / INCOMPLETE: fetch "
        "the bundle again after the log's interval). The close's leaf said to be pending beside a tree "
        "head signed more than two of the log's intervals after the close is a failure."
    )
)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "keys",
    type=click.Path(dir_okay=False, path_type=Path),
    help="KEYS.json: the exchange's public keys (GET /api/v1/keys); without it, the key the bundle embeds.",
)
@click.option(
    "--documents",
    type=click.Path(file_okay=False, path_type=Path),
    help="A directory holding the result's documents (PDF): each must match its SHA-256 in the bundle.",
)
def verify(bundle: Path, keys: Path | None, documents: Path | None) -> None:
    from exchange.verifier import run

    sys.exit(run(bundle, keys, documents, click.echo))


@main.command(
    "verify-log",
    help=(
        "Check offline that the transparency log only grew: OLD_HEAD and NEW_HEAD are two signed tree "
        "heads (GET /api/v1/transparency/tree-heads/...), PROOF the consistency proof between them "
        "(GET /api/v1/transparency/consistency?first=M&second=N). Exits 0 when the new tree extends "
        "the old one and both heads are signed by a key of KEYS, 1 naming what failed: a log that "
        "rewrote or removed an entry cannot pass."
    ),
)
@click.argument("old_head", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new_head", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("proof", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "keys",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="KEYS.json: the exchange's public keys (GET /api/v1/keys), saved once.",
)
def verify_log(old_head: Path, new_head: Path, proof: Path, keys: Path) -> None:
    from exchange.verifier import run_consistency

    sys.exit(run_consistency(old_head, new_head, proof, keys, click.echo))


if __name__ == "__main__":
    main()
