"""Test traffic stays on loopback: the test settings' egress policy, and name resolution.

The machine's resolver is not on loopback, so a test must never ask it about a name: every
name a test gives Ponte (``erp.example.com``, a fuzzer's ``a.b``) resolves to 127.0.0.1 here,
where nothing answers on the partner ports, and names under ``.invalid`` (RFC 6761) do not
resolve. ``guard_name_resolution`` installs this for the egress guard, and makes
``socket.getaddrinfo`` refuse any other name, so a lookup outside the guard fails loudly
instead of leaving the machine.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import gateway.egress
from gateway.egress import EgressPolicy, parse_allowlist

_LOCAL_NAMES = {"localhost", "localhost.localdomain", socket.gethostname()}


def _is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return host.lower().rstrip(".") in _LOCAL_NAMES or host.lower().endswith(".localhost")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


async def loopback_resolver(host: str, port: int) -> list[str]:
    """Every name is 127.0.0.1, except ``*.invalid``; the machine's DNS is never asked."""
    if host.lower().rstrip(".").endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, f"{host} does not resolve (.invalid)")
    return ["127.0.0.1"]


# The sandbox and the other test servers listen on 127.0.0.1, over plain http.
LOOPBACK_ALLOW = "127.0.0.1/32"
LOOPBACK_EGRESS = EgressPolicy(allow=parse_allowlist([LOOPBACK_ALLOW]), allow_http=True, resolver=loopback_resolver)


def guard_name_resolution() -> None:
    gateway.egress.system_resolver = loopback_resolver
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or _is_address(name) or _is_local(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no outside name ({name})")

    socket.getaddrinfo = getaddrinfo
