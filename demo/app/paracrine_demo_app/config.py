"""The application's configuration file (``/etc/demo-app/app.conf``, INI), written by the deploy."""

from __future__ import annotations

import configparser
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """What the application needs to know."""

    listen: str
    port: int
    greeting: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    log_file: str
    keep_days: int


def load(path: str) -> Config:
    """Read the configuration file; a missing key is an error naming it."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as stream:
        parser.read_file(stream)
    app, db = parser["app"], parser["database"]
    return Config(
        listen=app.get("listen", "127.0.0.1"),
        port=app.getint("port"),
        greeting=app["greeting"],
        db_host=db.get("host", "127.0.0.1"),
        db_port=db.getint("port"),
        db_name=db["name"],
        db_user=db["user"],
        db_password=db["password"],
        log_file=app["log_file"],
        keep_days=app.getint("keep_days", 30),
    )
