"""HTML (Jinja2) to PDF with WeasyPrint, in a small process pool, never on the event loop.

``write_pdf`` is blocking and CPU-bound (a one-page notice takes 0.2-0.4 s of CPU
on the 2-vCPU development VM, 40 % of it subsetting the two CJK faces), so
every render runs in a worker process:

* the pool is created on first use, holds ``workers`` processes (default 2),
  starts them with ``spawn`` (no fork of a process that runs an event loop and
  threads), nices them so the server's event loop gets the CPU first, and
  recycles each after ``max_tasks_per_child`` renders;
* a render has a deadline: the worker arms ``SIGALRM`` and gives up with
  ``RenderTimeout``; should a worker be stuck in C code past the deadline
  plus a grace period, the parent kills the pool (renders in flight on it
  fail with ``RenderError``) and the next render starts a fresh one;
* the worker signs the PDF it wrote (``documents.pades``: PAdES, the exchange's certificate)
  when the renderer has ``signing``, so what leaves the pool is the document as issued;
* ``aclose()`` (the app's shutdown, through the document issuer that owns the
  renderer) stops the workers; a worker whose parent died without shutting
  it down (killed) exits within a second.

Workers are started with ``spawn``, which re-imports the main module: a script
that renders must keep its work under ``if __name__ == "__main__":`` (the
``exchange`` command, uvicorn and pytest do).

The PDF templates live in ``documents/templates/`` (the pages' are under ``exchange/web/``),
with autoescape on. The one stylesheet (``documents.css``) is handed to WeasyPrint directly, so
no template has to load anything. The URL fetcher refuses every URL except
``data:``: no ``file://`` (local files), no ``http(s)://`` (server-side
requests to internal addresses), no ``ftp://``; a refused resource is left
out of the document and logged.

Fonts: the stylesheet names the CJK families explicitly ("Noto Serif CJK SC"
for text, "Noto Sans CJK SC" bold for headings; fallback alone picks a JP or
KR face, or misses glyphs). WeasyPrint embeds the subset it used. Subsetting
a CJK font needs HarfBuzz's ``libharfbuzz-subset0``: without it WeasyPrint
falls back to fontTools, which takes 10-20 s per document instead of 0.1 s
(``scripts/system-deps.sh`` installs both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
from weasyprint import CSS, HTML, URLFetcher
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration

from documents.formatting import FILTERS, GLOBALS, SHANGHAI
from documents.pades import PdfSigning, sign_pdf

log = logging.getLogger("exchange.documents")

PDF_TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET = "documents.css"
AUTHOR = "公共资源交易平台"
WORKER_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0
"""Added to the render workers' nice value (see ``_start_worker``)."""
GRACE_SECONDS = 5.0
"""How long past its deadline the parent waits for a worker before killing the pool."""


class RenderError(Exception):
    """A document could not be rendered."""


class RenderTimeout(RenderError):
    """A render took longer than its deadline."""


class URLRefused(ValueError):
    """A template or stylesheet asked for a resource the fetcher does not fetch."""


@dataclass(frozen=True, slots=True)
class PdfMetadata:
    """Written to the PDF information dictionary (Title, Author, CreationDate, Subject, Keywords)."""

    title: str
    created: datetime
    author: str = AUTHOR
    subject: str | None = None
    keywords: tuple[str, ...] = ()
    lang: str = "zh-CN"


class DataOnlyURLFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
    """Fetches ``data:`` URIs and refuses everything else before any I/O happens.

    ``refused`` lists what was asked for and not fetched (for logs and tests).
    """

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        scheme, sep, _ = url.partition(":")
        if not sep or scheme.strip().lower() != "data":
            self.refused.append(url)
            log.warning("document renderer refused to fetch %.200s", url)
            raise URLRefused(f"only data: URIs are allowed in documents, not {url[:200]!r}")
        return super().fetch(url, headers)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment (one per process): autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PDF_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    return env


@lru_cache(maxsize=1)
def _fonts() -> FontConfiguration:
    """One font configuration per process: Pango's font map keeps its fontconfig matches between
    documents, which makes line breaking with the CJK fonts several times faster than a fresh one."""
    return FontConfiguration()


@lru_cache(maxsize=1)
def _stylesheet() -> CSS:
    text = (PDF_TEMPLATES / STYLESHEET).read_text(encoding="utf-8")
    return CSS(string=text, url_fetcher=DataOnlyURLFetcher(), font_config=_fonts())


def render_html(template: str, context: Mapping[str, Any]) -> str:
    """The HTML of a document (cheap; the tests look at it before it becomes a PDF)."""
    return environment().get_template(template).render(**context)


def lay_out(html: str, fetcher: DataOnlyURLFetcher | None = None) -> Document:
    """Blocking: parse and lay out, with this process's stylesheet and fonts (both made once)."""
    return HTML(string=html, base_url=None, url_fetcher=fetcher or DataOnlyURLFetcher()).render(
        stylesheets=[_stylesheet()], font_config=_fonts()
    )


def html_to_pdf(html: str, metadata: PdfMetadata, fetcher: DataOnlyURLFetcher | None = None) -> bytes:
    """Blocking: lay out and write the PDF. Runs in a worker; call it directly only in tests."""
    document = lay_out(html, fetcher)
    document.metadata.title = metadata.title
    document.metadata.authors = [metadata.author]
    document.metadata.created = metadata.created.astimezone(SHANGHAI).isoformat(timespec="seconds")
    document.metadata.modified = None
    document.metadata.generator = AUTHOR
    document.metadata.lang = metadata.lang
    if metadata.subject:
        document.metadata.description = metadata.subject
    if metadata.keywords:
        document.metadata.keywords = list(metadata.keywords)
    pdf: bytes = document.write_pdf()
    return pdf


def render_pdf(template: str, context: Mapping[str, Any], metadata: PdfMetadata) -> bytes:
    """Blocking: template to PDF."""
    return html_to_pdf(render_html(template, context), metadata)


class _Alarm(BaseException):
    """Raised by SIGALRM inside a worker; BaseException so WeasyPrint's handlers do not swallow it."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the (main-thread) work after ``seconds``; a no-op where SIGALRM is missing."""
    if (
        seconds <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise _Alarm

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_worker(job: Callable[[], bytes], timeout: float) -> bytes:
    try:
        with _deadline(timeout):
            return job()
    except _Alarm:
        raise RenderTimeout(f"rendering took longer than {timeout:g} s") from None


def _signed(pdf: bytes, signing: PdfSigning | None) -> bytes:
    return pdf if signing is None else sign_pdf(pdf, signing)


def _worker_template(
    template: str,
    context: Mapping[str, Any],
    metadata: PdfMetadata,
    signing: PdfSigning | None,
    timeout: float,
) -> bytes:
    return _in_worker(lambda: _signed(render_pdf(template, context, metadata), signing), timeout)


def _worker_html(html: str, metadata: PdfMetadata, signing: PdfSigning | None, timeout: float) -> bytes:
    return _in_worker(lambda: _signed(html_to_pdf(html, metadata), signing), timeout)


WARM_UP_HTML = "<p>公告 Notice 0123456789</p><h1>成交公示</h1>"


def _exit_with_parent(parent: int) -> None:
    """A worker whose server was killed (``kill -9``, a crash) is not told; it notices and leaves."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _start_worker(niceness: int, warm_up: bool) -> None:
    """Worker initializer: watch the parent, step back behind the server, load the fonts.

    Documents are background work; the event loop of the process that serves
    bids is not. Niced workers leave it the CPU when both want it (2 cores,
    2 workers and the server), at the price of slower renders while it is busy.
    """
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="exit-with-parent", daemon=True
    ).start()
    # Ctrl-C in a terminal reaches the whole process group; the parent shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    if warm_up:  # so the first real render is fast
        with contextlib.suppress(Exception):
            html_to_pdf(WARM_UP_HTML, PdfMetadata(title="warm-up", created=datetime.now(SHANGHAI)))


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class Renderer:
    """A lazily started process pool that turns templates into PDFs."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout: float = 30.0,
        max_tasks_per_child: int | None = 200,
        warm_up: bool = True,
        niceness: int = WORKER_NICENESS,
        signing: PdfSigning | None = None,
    ) -> None:
        self.workers = workers or _default_workers()
        self.signing = signing
        """Sign every PDF as PAdES with this key (``documents.pades``); ``None``: unsigned (tests)."""
        self.timeout = timeout
        self.max_tasks_per_child = max_tasks_per_child
        self.warm_up = warm_up
        self.niceness = niceness
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.niceness, self.warm_up),
                    max_tasks_per_child=self.max_tasks_per_child,
                )
            return self._pool

    def _submit(self, fn: Callable[..., bytes], *args: Any) -> Future[bytes]:
        """Blocking the first time (it starts the processes), so called in a thread."""
        return self._executor().submit(fn, *args, self.timeout)

    async def _run(self, fn: Callable[..., bytes], *args: Any) -> bytes:
        future = await asyncio.to_thread(self._submit, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout + GRACE_SECONDS)
        except TimeoutError:
            log.error("a document render is stuck past its deadline; restarting the render pool")
            await asyncio.to_thread(self._discard, True)
            raise RenderTimeout(f"rendering took longer than {self.timeout:g} s") from None
        except BrokenProcessPool as exc:
            await asyncio.to_thread(self._discard, False)
            raise RenderError("the render worker died") from exc

    async def render(self, template: str, context: Mapping[str, Any], metadata: PdfMetadata) -> bytes:
        """Template + data to PDF bytes, in a worker process (signed there, with ``signing``)."""
        return await self._run(_worker_template, template, dict(context), metadata, self.signing)

    async def render_html(self, html: str, metadata: PdfMetadata) -> bytes:
        """Ready HTML to PDF bytes, in a worker process."""
        return await self._run(_worker_html, html, metadata, self.signing)

    async def start(self) -> None:
        """Optional: start (and warm) the workers now rather than on the first document."""
        await self.render_html(WARM_UP_HTML, PdfMetadata(title="warm-up", created=datetime.now(SHANGHAI)))

    def _discard(self, kill: bool) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            processes: dict[int, multiprocessing.process.BaseProcess] = (
                getattr(pool, "_processes", None) or {}
            )
            for process in list(processes.values()):
                with contextlib.suppress(Exception):
                    process.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (waits for the renders in progress). The renderer may be used again."""
        self._discard(False)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
