"""``systemd.service`` for the lab's daemonless ``systemctl``: pyinfra 3.10's own operation, with
facts that read the unit's state in a way that ``systemctl`` understands.

Why: pyinfra's ``SystemdStatus``/``SystemdEnabled`` facts run
``systemctl show --all --property Id --property SubState UNIT``. The lab hosts have no systemd
daemon; their ``systemctl`` (Debian package ``systemctl``, docker-systemctl-replacement 1.4)
prints only the *last* ``--property`` asked for, so pyinfra never sees ``Id=`` lines and finds no
unit at all: every run would ``start`` and ``enable`` each service again, and ``restarted=True`` /
``reloaded=True`` would never act (pyinfra restarts only a unit it knows is running).

So the two facts below ask ``systemctl show UNIT`` (every property, one command, as the stock
facts are one command each) and parse it with pyinfra's own ``process``; ``service`` is
``pyinfra.operations.systemd.service`` (3.10.0) line for line, without the arguments the demo does
not use (``command``, ``daemon_reload``, ``user_mode``, ``machine``, ``user_name``). On a host with
real systemd, the stock ``systemd.service`` runs the same commands.
"""

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations.util.service import handle_service_control


class LabSystemdStatus(SystemdStatus):
    """``{unit: running?}`` from ``systemctl show UNIT...`` (all properties)."""

    def command(self, services):
        return StringCommand("systemctl", "show", *[QuoteString(s) for s in services])


class LabSystemdEnabled(LabSystemdStatus):
    """``{unit: enabled?}``, like pyinfra's ``SystemdEnabled``."""

    state_key = SystemdEnabled.state_key
    state_values = SystemdEnabled.state_values


@operation()
def service(service, running=True, restarted=False, reloaded=False, enabled=None):
    """Manage a systemd unit: pyinfra's ``systemd.service`` with the facts above."""
    if "." not in service:
        service = f"{service}.service"

    yield from handle_service_control(
        host,
        service,
        host.get_fact(LabSystemdStatus, services=[service]),
        "systemctl {1} {0}",
        running,
        restarted,
        reloaded,
    )

    if isinstance(enabled, bool):
        is_enabled = host.get_fact(LabSystemdEnabled, services=[service]).get(service, False)
        if not is_enabled and enabled is True:
            yield StringCommand("systemctl", "enable", QuoteString(service))
        elif is_enabled and enabled is False:
            yield StringCommand("systemctl", "disable", QuoteString(service))
