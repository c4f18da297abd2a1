"""The dbt project's name, from its ``dbt_project.yml`` (dbt's artifacts are read by ``shared.dbt_artifacts``)."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^name:\s*['\"]?(?P<name>[\w]+)", re.M)


def project_name(project_dir: Path) -> str | None:
    """The ``name:`` in dbt_project.yml, or None."""
    try:
        m = _NAME.search((project_dir / "dbt_project.yml").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return m["name"] if m else None
