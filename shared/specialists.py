"""The one table of specialists: everything the commander and the post need to know about them.

    name (= queue and package)  Celery task                             label in the post
    log_analyzer                pic.log_analyzer.analyze_logs           Log analyzer
    query_profiler              pic.query_profiler.profile_queries      Query profiler
    owner_notifier              pic.owner_notifier.notify_owners        Owner notifier

Derived from it, never written twice: the Celery routes (``shared.celery_app``), the chord
header (``commander.tasks``), the order of the findings in a report and in its timings line,
the labels and the opening message's "… are looking" (``shared.slack_format``), the workers the
embedded stack starts (``incident_cli.stack``), and the unavailable findings of specialists that
never answered (``commander.incidents``). The table's order is the specialists' place in the post.

To add a specialist: a package ``<name>/`` whose ``worker.py`` calls
``shared.specialist_task.register_specialist`` with its spec, a row here, and a service in
docker-compose.yml (``tests/shared/test_specialists.py`` checks that the compose file has one per row).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.contracts import SPECIALIST_NAME, Specialist


@dataclass(frozen=True, slots=True)
class SpecialistSpec:
    """One specialist: its name is also its queue and its package (``<name>.worker``)."""

    name: str
    task: str  # the Celery task name, routed to the queue ``name``
    label: str  # how the post names it: "Log analyzer"
    # Prefix of the finding's summary when the specialist raised instead of answering.
    failure: str = "failed"

    def __post_init__(self) -> None:
        if not SPECIALIST_NAME.fullmatch(self.name):
            raise ValueError(f"specialist name {self.name!r}: lowercase letters, digits and '_' only")
        if not self.task.startswith(f"pic.{self.name}."):
            raise ValueError(f"specialist {self.name}: its task must be named pic.{self.name}.<verb>")

    @property
    def queue(self) -> str:
        return self.name

    @property
    def worker_module(self) -> str:
        return f"{self.name}.worker"


BUILT_IN: tuple[SpecialistSpec, ...] = (
    SpecialistSpec(
        Specialist.LOG_ANALYZER.value, "pic.log_analyzer.analyze_logs", "Log analyzer", failure="log analysis failed"
    ),
    SpecialistSpec(
        Specialist.QUERY_PROFILER.value,
        "pic.query_profiler.profile_queries",
        "Query profiler",
        failure="query history unavailable",
    ),
    SpecialistSpec(
        Specialist.OWNER_NOTIFIER.value,
        "pic.owner_notifier.notify_owners",
        "Owner notifier",
        failure="owner lookup failed",
    ),
)


class Registry:
    """The specialists, in the order of their place in the post."""

    def __init__(self, specs: tuple[SpecialistSpec, ...]) -> None:
        self._specs = specs
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[SpecialistSpec]:
        return iter(self._specs)

    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._specs)

    def get(self, name: str) -> SpecialistSpec:
        """The spec of ``name``; KeyError names the registered ones."""
        for spec in self._specs:
            if spec.name == name:
                return spec
        raise KeyError(f"no specialist {name!r}; registered: {', '.join(self.names())}")

    def label(self, name: str) -> str:
        """How the post names ``name``; a finding from an unregistered specialist still gets a label."""
        return next((s.label for s in self._specs if s.name == name), name.replace("_", " ").capitalize())

    def register(self, spec: SpecialistSpec) -> None:
        """Add ``spec`` at the end of the table (its place in the post: last)."""
        with self._lock:
            if spec.name in self.names() or spec.task in (s.task for s in self._specs):
                raise ValueError(f"specialist {spec.name} (task {spec.task}) is already registered")
            self._specs = (*self._specs, spec)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._specs = tuple(s for s in self._specs if s.name != name)

    @contextmanager
    def registered(self, spec: SpecialistSpec) -> Iterator[SpecialistSpec]:
        """``spec`` registered for the duration of a block (tests and experiments)."""
        self.register(spec)
        try:
            yield spec
        finally:
            self.unregister(spec.name)


SPECIALISTS = Registry(BUILT_IN)
