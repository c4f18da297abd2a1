"""The floor: a bare chord of three no-op tasks on the same Redis and the same Celery settings.

    trigger ──► bench_commander: chord(noop@bench_a, noop@bench_b, noop@bench_c) ──► done (RPUSH)

Workers: ``celery -A bench.noop_chord worker -Q bench_<x>``, one process per queue, like the product.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import chord

from shared.celery_app import make_app

QUEUES = ("bench_commander", "bench_a", "bench_b", "bench_c")
DONE_KEY = "bench:noop:done"

app = make_app("bench-noop")
app.conf.task_routes = {
    "bench.commander": {"queue": "bench_commander"},
    "bench.done": {"queue": "bench_commander"},
    "bench.noop_a": {"queue": "bench_a"},
    "bench.noop_b": {"queue": "bench_b"},
    "bench.noop_c": {"queue": "bench_c"},
}


@app.task(name="bench.commander", acks_late=True)
def commander(token: str) -> None:
    chord([app.signature(f"bench.noop_{x}", args=(token,)) for x in "abc"], app=app)(
        app.signature("bench.done", kwargs={"token": token})
    )


def _noop(token: str) -> dict[str, Any]:
    return {"token": token, "ok": True}


for _x in "abc":
    app.task(name=f"bench.noop_{_x}", acks_late=True)(_noop)


@app.task(name="bench.done", acks_late=True)
def done(results: list[Any], *, token: str) -> None:
    client = redis.Redis.from_url(app.conf.result_backend)
    client.rpush(f"{DONE_KEY}:{token}", time.time())
