"""The HTTP server: ``paracrine-demo-app --config /etc/demo-app/app.conf`` (WSGI on the standard library).

``GET /`` records the visit in PostgreSQL and shows the latest visits read back
from it; ``GET /health`` answers ``ok`` when the database answers.
"""

from __future__ import annotations

import argparse
import html
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from paracrine_demo_app import __version__, db
from paracrine_demo_app.config import Config, load

StartResponse = Callable[..., Any]


def application(config: Config) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        try:
            conn = db.connect(config)
            try:
                if path == "/health":
                    conn.run("SELECT 1")
                    return _reply(start_response, "200 OK", "ok\n", "text/plain")
                visit = db.record_visit(conn, path, environ.get("HTTP_USER_AGENT", ""))
                count, latest = db.recent(conn)
            finally:
                conn.close()
        except Exception as exc:  # the database is down or refuses: say so, with a 503
            return _reply(start_response, "503 Service Unavailable", f"database unavailable: {exc}\n", "text/plain")
        return _reply(start_response, "200 OK", _page(config, visit, count, latest), "text/html; charset=utf-8")

    return app


def _page(config: Config, visit: int, count: int, latest: list[tuple[int, str, str]]) -> str:
    rows = "".join(f"<li>#{i} at {html.escape(at)}: {html.escape(p)}</li>" for i, at, p in latest)
    return (
        f"<!doctype html><title>Paracrine demo</title>\n<h1>{html.escape(config.greeting)}</h1>\n"
        f"<p>host {html.escape(socket.gethostname())}, app {__version__}, pid {os.getpid()}</p>\n"
        f"<p>visit #{visit} stored in PostgreSQL database {html.escape(config.db_name)}; "
        f"{count} visits in all</p>\n<ul>{rows}</ul>\n"
    )


def _reply(start_response: StartResponse, status: str, body: str, kind: str) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(data)))])
    return [data]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def _log(config: Config, text: str) -> None:
    with open(config.log_file, "a", encoding="utf-8") as stream:
        stream.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paracrine-demo-app")
    parser.add_argument("--config", default="/etc/demo-app/app.conf")
    args = parser.parse_args(argv)
    config = load(args.config)
    _log(config, f"started pid {os.getpid()} on {config.listen}:{config.port}")
    server = make_server(config.listen, config.port, application(config), WSGIServer, _QuietHandler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    finally:
        _log(config, f"stopped pid {os.getpid()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
