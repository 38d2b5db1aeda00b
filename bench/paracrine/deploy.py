"""The lab workload (../workload/spec.json) as a Paracrine deploy.

Run (see bench/tools.py):  paracrine deploy bench/paracrine/deploy.py -i INVENTORY.py -y
LAB_REV (environment, default "0") is the revision written into template #1;
changing it changes exactly one file per host. One operation per resource, like
the peers' implementations (bench/peers/).
"""

import json
import os
from pathlib import Path

from paracrine import host
from paracrine.operations import apt, files, server

WORKLOAD = Path(__file__).resolve().parents[1] / "workload"
spec = json.loads((WORKLOAD / "spec.json").read_text())
revision = os.environ.get("LAB_REV", "0")
owner, group = spec["owner"], spec["group"]

for d in spec["directories"]:
    files.directory(d["path"], mode=d["mode"], owner=owner, group=group)

for f in spec["files"]:
    files.put(str(WORKLOAD / f["src"]), f["dest"], mode=f["mode"], owner=owner, group=group)

for t in spec["templates"]:
    files.template(
        str(WORKLOAD / t["src"]),
        t["dest"],
        mode=t["mode"],
        owner=owner,
        group=group,
        lab_hostname=host.name,
        lab_port=host.data.ssh_port,
        index=t["index"],
        revision=revision,
    )

for line in spec["lines"]["lines"]:
    files.line(spec["lines"]["path"], line)  # whole-line match, appended if missing

for link in spec["links"]:
    files.link(link["path"], link["target"])

g, u = spec["group_account"], spec["user_account"]
server.group(g["name"], gid=g["gid"])
server.user(u["name"], uid=u["uid"], group=u["group"], home=u["home"], shell=u["shell"], create_home=True)

apt.packages(spec["packages"]["present"])
apt.packages(spec["packages"]["install"])

cmd = spec["command"]
server.shell(cmd["cmd"], creates=cmd["creates"])
