"""The clients a worker process needs, built once per process from settings (never at import).

Celery's prefork pool forks children after the worker module is imported; building clients
lazily, in the child, keeps sockets from being shared across processes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from shared.incident_store import IncidentStore
from shared.ports import IncidentSink, UserDirectory
from shared.settings import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: IncidentStore
    sink: IncidentSink
    directory: UserDirectory


# Whether this process's Slack calls take turns in the shared budget (shared.slack_budget). Only the
# commander's: its top-level post and update are retried by ``deliver`` when a turn is too far away.
# A specialist's thread reply or an owner ping is not retried, so there a refused turn would drop the
# message; they keep the SDK's own 429 handling until they are delivered by a retried task too.
_SHARED_SLACK_BUDGET = False


def use_shared_slack_budget() -> None:
    """Called by a worker whose Slack calls are all retried when refused (the commander's)."""
    global _SHARED_SLACK_BUDGET
    _SHARED_SLACK_BUDGET = True
    get_runtime.cache_clear()


def build_runtime(settings: Settings, *, shared_slack_budget: bool | None = None) -> Runtime:
    from shared.slack import make_budget, make_directory, make_sink  # slack_sdk only where a worker needs it

    shared = _SHARED_SLACK_BUDGET if shared_slack_budget is None else shared_slack_budget
    budget = make_budget(settings) if shared else None  # one Slack rate budget in Redis, for the commander

    return Runtime(
        settings=settings,
        store=IncidentStore.from_url(
            settings.state_redis_url,
            ttl_s=settings.dedup_ttl_s,
            seed_sequence=_seed_from_history(settings.incident_db_url),
        ),
        sink=make_sink(settings, budget=budget),
        directory=make_directory(settings, budget=budget),
    )


def _seed_from_history(url: str) -> Callable[[date], int]:
    """The Redis id counter's seed after Redis came back empty: the highest id number the durable
    history recorded for that day. SQLAlchemy and Alembic are imported only if it is ever asked.

    A read-only transaction (SQLite: it never waits for a writer), every wait bounded (connecting
    2 s, a statement 5 s); the claim that asks waits for it at most ``SEED_TIMEOUT_S`` anyway
    (``IncidentStore._seed`` runs it in a thread)."""

    def seed(day: date) -> int:
        from shared.incident_db import open_store  # migrated by the commander worker at start-up

        store = open_store(url)
        try:
            return store.seed_sequence(day=day)
        finally:
            store.close()

    return seed


@functools.cache
def get_runtime() -> Runtime:
    """This process's runtime (built on first use)."""
    return build_runtime(get_settings())


def get_store() -> IncidentStore:
    """The incident store alone, for code that runs outside tasks (the worker's main process)."""
    return _store()


@functools.cache
def _store() -> IncidentStore:
    settings = get_settings()
    return IncidentStore.from_url(settings.state_redis_url, ttl_s=settings.dedup_ttl_s)


def reset_runtime() -> None:
    """Forget the clients (after a fork)."""
    get_runtime.cache_clear()
    _store.cache_clear()
