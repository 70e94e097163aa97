# The exchange on Debian with what WeasyPrint needs (Pango) and a CJK font.
# Not built on the development machines (no Docker engine there); kept correct by reading.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
        fonts-noto-cjk fonts-dejavu-core fontconfig \
    && rm -rf /var/lib/apt/lists/* \
    && fc-cache -f

RUN useradd --create-home --uid 10001 exchange
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exchange ./exchange
COPY listings ./listings
COPY auctions ./auctions
COPY settlement ./settlement
COPY documents ./documents
RUN pip install --no-cache-dir . && mkdir -p /app/var && chown exchange /app/var

USER exchange
ENV EXCHANGE_VAR_DIR=/app/var
# one JSON object per log line, for the log collector (README, "Watching it run")
ENV EXCHANGE_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["exchange", "serve", "--host", "0.0.0.0", "--port", "8000"]
