"""Which dbt model issued a query: from dbt's query comment, else from the query tag.

dbt appends (Snowflake) or prepends (other adapters) a comment such as
``/* {"app": "dbt", "dbt_version": "1.10.0", "node_id": "model.shop.fct_orders"} */``; a model's
``query_tag`` config (dbt-snowflake) may carry JSON (``{"dbt_model": "fct_orders"}``) or a plain
name. Without either the query is ``"unattributed"``.
"""

from __future__ import annotations

import json
import re

from shared.dbt_artifacts import node_name

UNATTRIBUTED = "unattributed"

_DBT_COMMENT = re.compile(r'/\*\s*(\{[^*]*"app":\s*"dbt"[^*]*\})\s*\*/')
_NODE_ID = re.compile(r'"node_id":\s*"([^"]+)"')
_NODE_ID_IN_TEXT = re.compile(r"\b(?:model|snapshot|seed)\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,249}$")
_TAG_KEYS = ("node_id", "dbt_model", "model", "model_name", "dbt_node")


def model_for(query_text: str, query_tag: str | None = None) -> str:
    """The dbt model name behind a query, or ``"unattributed"``."""
    return from_comment(query_text) or from_tag(query_tag) or UNATTRIBUTED


def from_comment(query_text: str) -> str | None:
    """The model named by dbt's query comment, wherever it sits in the text."""
    if '"dbt"' not in query_text:  # cheap pre-check: most of a 100k-row history is not dbt's
        return None
    match = _DBT_COMMENT.search(query_text)
    if match is None:
        return None
    node_id: object = None
    try:
        node_id = json.loads(match.group(1)).get("node_id")
    except (ValueError, AttributeError):
        found = _NODE_ID.search(match.group(1))
        node_id = found.group(1) if found else None
    return node_name(node_id) if isinstance(node_id, str) and node_id else None


def from_tag(query_tag: str | None) -> str | None:
    """The model named by a query tag: JSON with a model key, a node id, or a bare model name."""
    tag = (query_tag or "").strip()
    if not tag:
        return None
    if tag.startswith("{"):
        try:
            data = json.loads(tag)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in _TAG_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    return node_name(value.strip())
        return None
    node = _NODE_ID_IN_TEXT.search(tag)
    if node:
        return node_name(node.group(0))
    return tag if _PLAIN_NAME.match(tag) else None
