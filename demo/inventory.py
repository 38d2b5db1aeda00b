"""The demo's inventory: three throwaway lab hosts (``paracrine lab up 3`` starts them).

Every host of the ``lab`` group gets the group's data. The hosts share this
machine's network, so each host's ports are a base plus its number (see
``roles/common.py``); ``DEMO_PORT_BASE`` moves them (the tests use their own).
The database password is a ``Secret``: Paracrine never prints it.
"""

import os

from paracrine.secret import Secret

lab = ["@lab/3"]

group_data = {
    "lab": {
        "port_base": int(os.environ.get("DEMO_PORT_BASE", "18000")),
        "greeting": os.environ.get("DEMO_GREETING", "Hello from Paracrine"),
        "keep_days": 30,
        "db_name": "demo",
        "db_user": "demo",
        "db_password": Secret(os.environ.get("DEMO_DB_PASSWORD", "demo-password-change-me")),
    },
}
