"""The SSRF guard of the feed fetcher: which addresses a fetch may connect to, and bounded DNS lookups.

Plain Python (no Dagster). :func:`blocked_reason` refuses loopback, private, link-local, multicast,
reserved, unspecified and cloud metadata addresses, and IPv4-mapped/6to4/NAT64 forms of those;
:func:`resolve_within` runs a lookup with the feed's deadline (``getaddrinfo`` has no timeout).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable

from resources.fetch_pacing import Progress

Resolver = Callable[[str], Iterable[str]]
"""Maps a host name to its IP addresses (strings). The default uses ``socket.getaddrinfo``."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "fd00:ec2::254",  # AWS IPv6
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def default_resolver(host: str) -> list[str]:
    """All addresses ``host`` resolves to, in resolver order, without duplicates."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (``"a loopback address"``...), or None."""
    embedded: IPAddress | None = None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            embedded = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            embedded = ip.sixtofour
        elif ip in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        inner = blocked_reason(embedded)
        if inner:
            return f"{inner} (embedded {embedded})"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def resolve_within(resolver: Resolver, host: str, progress: Progress) -> list[str]:
    """``resolver(host)`` in a helper thread, abandoned (feed fails) at the feed deadline:
    ``getaddrinfo`` has no timeout of its own, so a slow DNS server could otherwise hold a worker."""
    left = progress.check(f"resolving {host}")
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = list(resolver(host))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"dns-{host}"[:40], daemon=True)
    worker.start()
    worker.join(None if left == float("inf") else left)
    if worker.is_alive():
        raise progress.expired(f"cannot resolve {host} in time")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
