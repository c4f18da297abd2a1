"""``snowflake://user:password@account/database/schema?warehouse=..&role=..`` to connector arguments.

Key-pair auth: ``snowflake://user@account/db?private_key_file=/path/key.p8&private_key_file_pwd=..``
(no password in the URL). Optional ``query_tag`` tags the profiler's own statements (default
``incident-commander:query_profiler``) and ``authenticator`` is passed through.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from query_profiler.records import OWN_QUERY_MARKER
from shared.errors import ConfigError

_PASSED_THROUGH = ("warehouse", "role", "authenticator", "private_key_file")


def connect_arguments(url: str) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` (without timeouts or session parameters)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "snowflake" or not parts.hostname:
        raise ConfigError("WAREHOUSE_URL: expected snowflake://user[:password]@account/db/schema?warehouse=..")
    if not parts.username:
        raise ConfigError("WAREHOUSE_URL: the Snowflake URL names no user")
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=False).items()}
    args: dict[str, Any] = {"account": unquote(parts.hostname), "user": unquote(parts.username)}
    if parts.password:
        args["password"] = unquote(parts.password)
    path = [unquote(p) for p in parts.path.split("/") if p]
    if path:
        args["database"] = path[0]
    if len(path) > 1:
        args["schema"] = path[1]
    for key in _PASSED_THROUGH:
        if query.get(key):
            args[key] = query[key]
    key_password = query.get("private_key_file_pwd") or query.get("private_key_password")
    if key_password:
        args["private_key_password"] = key_password
    if "password" not in args and "private_key_file" not in args and "authenticator" not in args:
        raise ConfigError("WAREHOUSE_URL: give a password or ?private_key_file=... for the Snowflake user")
    return args


def query_tag(url: str) -> str:
    """The QUERY_TAG our own statements carry (so the profiler can leave them out of its report)."""
    tag = {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}.get("query_tag")
    if not tag:
        return OWN_QUERY_MARKER
    return tag if OWN_QUERY_MARKER in tag else f"{tag} {OWN_QUERY_MARKER}"
