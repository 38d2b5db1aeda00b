"""The demo: PostgreSQL, a Python web application and nginx in front of it, on every host.

    scripts/demo                                 # builds the wheelhouse, starts 3 lab hosts, runs this
    paracrine demo/deploy.py --dry-run --diff    # what would change
    paracrine demo/deploy.py -y                  # apply (inventory: demo/inventory.py)
    paracrine demo/deploy.py --check             # exit 0 in sync, 2 changes pending

Each part is a role (demo/roles/), called here in order.
"""

from roles.app import app
from roles.base import base
from roles.database import database
from roles.web import web

base()
database()
app()
web()
