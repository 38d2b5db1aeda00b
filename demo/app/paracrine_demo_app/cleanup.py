"""``paracrine-demo-cleanup``: delete visits older than ``keep_days`` (run nightly by cron)."""

from __future__ import annotations

import argparse
import sys

from paracrine_demo_app import db
from paracrine_demo_app.config import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paracrine-demo-cleanup")
    parser.add_argument("--config", default="/etc/demo-app/app.conf")
    args = parser.parse_args(argv)
    config = load(args.config)
    conn = db.connect(config)
    try:
        removed = db.delete_older_than(conn, config.keep_days)
    finally:
        conn.close()
    print(f"removed {removed} visits older than {config.keep_days} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
