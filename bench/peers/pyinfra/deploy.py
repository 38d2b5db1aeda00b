"""The lab workload (../../workload/spec.json) as a pyinfra 3 deploy.

Run (see bench/tools.py):  pyinfra -y INVENTORY.py bench/peers/pyinfra/deploy.py
LAB_REV (environment, default "0") is the revision written into template #1;
changing it changes exactly one file per host.
"""
import json
import os
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

WORKLOAD = Path(__file__).resolve().parents[2] / "workload"
spec = json.loads((WORKLOAD / "spec.json").read_text())
revision = os.environ.get("LAB_REV", "0")
owner, group = spec["owner"], spec["group"]

for d in spec["directories"]:
    files.directory(name=f"directory {d['path']}", path=d["path"], user=owner, group=group, mode=d["mode"])

for f in spec["files"]:
    files.put(name=f"file {f['dest']}", src=str(WORKLOAD / f["src"]), dest=f["dest"],
              user=owner, group=group, mode=f["mode"])

for t in spec["templates"]:
    files.template(name=f"template {t['dest']}", src=str(WORKLOAD / t["src"]), dest=t["dest"],
                   user=owner, group=group, mode=t["mode"],
                   lab_hostname=host.name, lab_port=host.data.ssh_port,
                   index=t["index"], revision=revision)

for line in spec["lines"]["lines"]:
    # Anchored, so only an identical whole line counts as present (like lineinfile).
    files.line(name=f"line {line!r}", path=spec["lines"]["path"], line=f"^{line}$")

for link in spec["links"]:
    files.link(name=f"link {link['path']}", path=link["path"], target=link["target"])

g, u = spec["group_account"], spec["user_account"]
server.group(name=f"group {g['name']}", group=g["name"], gid=g["gid"])
server.user(name=f"user {u['name']}", user=u["name"], uid=u["uid"], group=u["group"],
            home=u["home"], shell=u["shell"], create_home=True)

apt.packages(name="packages already present", packages=spec["packages"]["present"], update=False)
apt.packages(name="package to install", packages=spec["packages"]["install"], update=False)

# Guarded command: pyinfra's idiom is a fact check at deploy time.
cmd = spec["command"]
if not host.get_fact(File, path=cmd["creates"]):
    server.shell(name="guarded command", commands=[cmd["cmd"]])
