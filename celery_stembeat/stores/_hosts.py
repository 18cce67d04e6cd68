"""libpq's multi-host PostgreSQL URLs (``postgresql://h1:p1,h2:p2/db``) in the form SQLAlchemy
documents for them ("Specifying multiple fallback hosts"): ``postgresql:///db?host=h1,h2&port=
p1,p2``. SQLAlchemy's URL parser reads a host list in the authority as one host with a broken
port; its PostgreSQL dialects hand the query's lists to psycopg, which tries the hosts in order.

The store writes, so it must never settle on a standby: a URL naming several hosts connects
with ``target_session_attrs=read-write`` unless it says otherwise. Pure text work: checking a
store URL must not import SQLAlchemy.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def _is_postgres(url: str) -> bool:
    scheme = url.partition("://")[0].lower()
    return scheme.partition("+")[0] in _POSTGRES_SCHEMES


def _host_and_port(item: str) -> tuple[str, str]:
    """One ``host[:port]`` of a host list (``[v6]:port`` too); the port ``""`` if none."""
    if item.startswith("["):
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"host {item!r} is not [address] or [address]:port")
        port = rest[1:]
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError("a host in the host list is empty")
    if port and not (port.isdigit() and int(port) <= 65535):
        raise ValueError(f"port {port!r} of host {host!r} is not a number 0-65535")
    return host, port


def postgres_hosts(url: str) -> str:
    """``url`` with a host list in its authority moved to the query (any other URL as given),
    and ``target_session_attrs=read-write`` added when it names several hosts.

    Raises ``ValueError`` (without quoting the URL) for a malformed host list, or a host list
    in both the authority and the query.
    """
    if not _is_postgres(url):
        return url
    scheme, _, rest = url.partition("://")
    netloc = urlsplit(url).netloc
    userinfo, at, hostlist = netloc.rpartition("@")
    path, _, query_text = rest[len(netloc) :].partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    given = {key for key, _ in query}
    added: list[tuple[str, str]] = []
    if "," in hostlist:
        if given & {"host", "port"}:
            raise ValueError("hosts are given both before the database name and as ?host=")
        pairs = [_host_and_port(item) for item in hostlist.split(",")]
        added.append(("host", ",".join(host for host, _ in pairs)))
        if any(port for _, port in pairs):
            added.append(("port", ",".join(port for _, port in pairs)))
        netloc = userinfo + at
        path = path or "/"
    hosts = sum(len(value.split(",")) for key, value in query + added if key == "host")
    if hosts > 1 and "target_session_attrs" not in given:
        added.append(("target_session_attrs", "read-write"))
    if not added:
        return url
    return f"{scheme}://{netloc}{path}?{urlencode(query + added, safe=',:*')}"


__all__ = ["postgres_hosts"]
