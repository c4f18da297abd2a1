"""Rebuild Airflow callback contexts from the real ones captured in tests/fixtures/airflow/contexts.

The fixtures were written by real Airflow 2.10 and 3.3 callbacks (see that folder's README);
values Airflow could not give (``<unavailable: AttributeError>``) are left out, as the
attribute would be missing on the real object.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CONTEXTS = Path(__file__).parent / "fixtures" / "airflow" / "contexts"


def _obj(fields: dict[str, Any] | None) -> SimpleNamespace | None:
    if fields is None:
        return None
    kept = {k: v for k, v in fields.items() if not (isinstance(v, str) and v.startswith("<unavailable"))}
    return SimpleNamespace(**kept)


def _exception(pic: dict[str, Any]) -> BaseException | None:
    name = pic.get("exception_type")
    if not name:
        return None
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = type(name, (Exception,), {})
    text = pic.get("exception_repr") or ""
    inner = text[len(name) + 1 : -1] if text.startswith(name + "(") else text
    return cls(inner.strip("'\""))


def load_context(version: str, name: str) -> dict[str, Any]:
    """The callback context saved as ``<version>/<name>.json``, as objects like Airflow's."""
    raw = json.loads((CONTEXTS / version / f"{name}.json").read_text())
    pic = raw["_pic"]
    ctx: dict[str, Any] = {key: None for key in pic["context_keys"]}
    ti = _obj(pic.get("ti"))
    ctx.update(ti=ti, task_instance=ti, dag_run=_obj(pic.get("dag_run")), run_id=pic.get("run_id"))
    if "exception" in pic["context_keys"]:
        ctx["exception"] = _exception(pic)
    if "reason" in pic["context_keys"]:
        ctx["reason"] = pic.get("reason")
    for key in ("logical_date", "execution_date"):
        if key in pic["context_keys"]:
            value = raw.get("context", {}).get(key)
            ctx[key] = datetime.fromisoformat(value) if value else None  # Airflow hands a DateTime
    return ctx


def available() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in CONTEXTS.glob("*/*.json"))
