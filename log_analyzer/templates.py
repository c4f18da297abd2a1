"""A small, bounded log template miner for lines no signature knows.

Variable tokens (numbers, ids, quoted values, paths, hex) become ``<*>``; lines with the same
template are counted together. At most ``max_templates`` templates are kept, so memory does
not grow with the log. The most salient template is the rarest error-level one, first seen first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VARIABLE = re.compile(r"^(?:.*\d.*|['\"].*|.*[/\\].*|0x[0-9a-f]+|[0-9a-f]{8,}|<[^>]*>)$", re.I)
MAX_TOKENS = 16


@dataclass(slots=True)
class Template:
    pattern: str
    count: int
    first_line: int
    example: str
    error_level: bool


class TemplateMiner:
    def __init__(self, *, max_templates: int = 500) -> None:
        self._templates: dict[str, Template] = {}
        self._max = max_templates

    def add(self, text: str, line: int, *, error_level: bool) -> None:
        tokens = text.split()[:MAX_TOKENS]
        pattern = " ".join("<*>" if _VARIABLE.match(t) else t for t in tokens)
        found = self._templates.get(pattern)
        if found is not None:
            found.count += 1
        elif len(self._templates) < self._max:
            self._templates[pattern] = Template(pattern, 1, line, text, error_level)

    def most_salient(self) -> Template | None:
        if not self._templates:
            return None
        return min(self._templates.values(), key=lambda t: (not t.error_level, t.count, t.first_line))
