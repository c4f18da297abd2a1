"""Read untrusted YAML (dbt schema files, ``dbt_project.yml``, the owners file) without risk.

``yaml.SafeLoader`` builds plain Python objects only, but it still expands aliases: a "billion
laughs" file of a few hundred bytes describes ~10^9 nodes, harmless to PyYAML (it shares the
objects) and fatal to anything that walks the result. So the loader here counts every node as it
would be expanded and refuses a document over ``MAX_NODES``; files over ``MAX_BYTES`` are not read.
Every failure comes back as a reason string: the caller reports it and skips the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses documents whose alias expansion exceeds MAX_NODES."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._weights: dict[int, int] = {}  # id(node) -> nodes it stands for once aliases are expanded

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:  # type: ignore[override]
        node = super().compose_node(parent, index)  # type: ignore[arg-type]
        if id(node) not in self._weights:
            weight = 1
            if isinstance(node, yaml.MappingNode):
                weight += sum(self._weight(k) + self._weight(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                weight += sum(self._weight(item) for item in node.value)
            if weight > MAX_NODES:
                raise yaml.YAMLError(f"alias expansion exceeds {MAX_NODES} nodes (an alias bomb?)")
            self._weights[id(node)] = weight
        return node

    def _weight(self, node: yaml.Node) -> int:
        return self._weights.get(id(node), 1)


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document with the bounded safe loader (raises yaml.YAMLError)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> tuple[Any, str | None]:
    """``(data, None)``, or ``(None, reason)`` when the file is missing, too big or not safe YAML."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, f"skipped: {size} bytes is over the {MAX_BYTES}-byte limit"
        return load_yaml_text(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, "not found"
    except yaml.YAMLError as exc:
        return None, "skipped: invalid YAML: " + " ".join(str(exc).split())[:300]
    except RecursionError:
        return None, "skipped: YAML nested too deeply"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"skipped: unreadable: {exc}"
