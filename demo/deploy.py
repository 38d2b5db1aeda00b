"""A small service, deployed: user, directories, templated config, config lines, bootstrap.

paracrine demo/deploy.py            # plan, confirm, apply (inventory: demo/inventory.py)
paracrine demo/deploy.py --check    # exit 0 when the hosts match, 2 when changes are pending
"""

from paracrine import host
from paracrine.operations import files, server

APP = "/srv/greeter"
LOG_DIR = "/var/log/greeter"

# A service account with its own group.
server.group("greeter", gid=2100, system=True)
server.user("greeter", uid=2100, group="greeter", home=APP, shell="/usr/sbin/nologin", system=True, create_home=False)

# Directories (each runs after its parent and after the owner exists).
files.directory(APP, mode=0o755, owner="greeter", group="greeter")
for sub in ("releases", "shared"):
    files.directory(f"{APP}/{sub}", mode=0o750, owner="greeter", group="greeter")
files.directory(LOG_DIR, mode=0o750, owner="greeter", group="adm")
files.directory("/etc/greeter", mode=0o755)

# Configuration rendered from host data (demo/inventory.py), readable by the service only.
config = files.template(
    "templates/greeter.conf.j2",
    "/etc/greeter/greeter.conf",
    mode=0o640,
    owner="root",
    group="greeter",
    log_dir=LOG_DIR,
)

# Lines in an existing config file: a name for the service on each host.
files.line("/etc/hosts", f"127.0.1.80\tgreeter.{host.name}.internal")

# A one-time bootstrap, guarded so that it runs exactly once per host.
server.shell(
    f"echo 'bootstrapped {host.name}' > {APP}/shared/BOOTSTRAPPED && chown greeter:greeter {APP}/shared/BOOTSTRAPPED",
    creates=f"{APP}/shared/BOOTSTRAPPED",
)

# A handler: runs only when the configuration actually changed.
server.shell(f"date -u +%FT%TZ >> {LOG_DIR}/config-reloads", reload_on=[config], title="record config reload")
