"""Slack calls of many incidents from several worker processes, with and without the shared Slack budget.

    .venv/bin/python bench/slack_budget_bench.py [--incidents 40] [--processes 3] [--concurrency 4]
                                                 [--mode both|per-process|shared] [--json]

Against the Slack test server enforcing Slack's published limits (``tests.slack_server``,
``enforce_limits=True``: chat.postMessage 1 a second per channel with bursts of 3, Tier 3 methods
50 a minute) and a throwaway redis-server, all on loopback. Each incident makes five calls, in
order, as the workers do: the opening post in ``#incidents`` (by name), an owner lookup
(users.lookupByEmail), two thread replies (a specialist's finding, the owner's ping) and the
report (chat.update). ``--processes`` processes run ``--concurrency`` threads each, like Celery
workers; a call that raises SlackRetryable is retried the way a task is (``SLACK_DELIVERY``: its
countdown, at least Retry-After), its thread going on with other work meanwhile.

- ``per-process``: today's clients (``make_sink(settings)``, ``make_directory(settings)``): each
  process throttles lookups on its own and waits out short 429s in the SDK, longer ones retried.
- ``shared``: the same with ``budget=make_budget(...)``: one budget in Redis for every process.

Printed per mode: elapsed seconds (from the start signal to the last call), HTTP calls Slack
received, the 429s it answered (by method), task retries (in all, and by step), messages posted
and calls dropped (given up after ``--time-limit-s``). chat.postMessage's 1-a-second-per-channel
limit alone makes the floor: posts - 3 (the burst) seconds. Bounded: each mode stops after
``--time-limit-s``; a worker process that ends without a result stops the run (exit 1).

Note: here every step is retried as ``deliver`` is. In the workers, a thread reply or an owner
ping that raises SlackRetryable is logged and not retried (shared.specialist_task._record,
owner_notifier.service): their "retries by step" are what those would lose.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import multiprocessing
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from incident_cli.stack import RedisServer  # noqa: E402
from shared.errors import SlackAmbiguous, SlackRetryable  # noqa: E402
from shared.ports import IncidentSink, UserDirectory  # noqa: E402
from shared.retry_policy import SLACK_DELIVERY  # noqa: E402
from shared.settings import load_settings  # noqa: E402
from shared.slack import make_directory, make_sink  # noqa: E402
from shared.slack_budget import SlackBudget  # noqa: E402
from tests.slack_server import SlackServer  # noqa: E402

CHANNEL = "#incidents"
STEPS = ("opening post", "owner lookup", "finding reply", "owner ping", "report update")
METHODS = ("chat.postMessage", "users.lookupByEmail", "chat.update")
POSTS_PER_INCIDENT = 3


def email(incident: int) -> str:
    return f"owner{incident}@example.com"


@dataclass
class WorkerArgs:
    name: str
    shared: bool
    slack_url: str
    token: str
    redis_url: str
    prefix: str
    incidents: list[int]
    concurrency: int
    time_limit_s: float


@dataclass(order=True)
class Step:
    ready_at: float
    seq: int
    incident: int = field(compare=False)
    index: int = field(compare=False)
    attempt: int = field(compare=False)
    first_at: float = field(compare=False)
    state: dict[str, str] = field(compare=False, default_factory=dict)


def run_step(step: Step, sink: IncidentSink, directory: UserDirectory) -> None:
    i, state = step.incident, step.state
    if step.index == 0:
        posted = sink.post(channel=CHANNEL, text=f"INC-{i:04d} · Triage in progress", tag=f"INC-{i:04d}:top")
        state.update(channel=posted.channel, ts=posted.ts)
    elif step.index == 1:
        state["owner"] = directory.user_id_for_email(email(i)) or "nobody"
    elif step.index == 2:
        sink.post(channel=state["channel"], thread_ts=state["ts"], text=f"INC-{i:04d} log_analyzer: root cause ...")
    elif step.index == 3:
        sink.post(channel=state["channel"], thread_ts=state["ts"], text=f"<@{state['owner']}> you own INC-{i:04d}")
    else:
        sink.update(channel=state["channel"], ts=state["ts"], text=f"INC-{i:04d} · Triage complete")


class Worker:
    """One worker process's task queue: ``concurrency`` threads, each incident's steps in order.

    A step that raises SlackRetryable goes back in the queue after its task countdown
    (SLACK_DELIVERY, at least Retry-After), as Celery does with a retried task; its thread takes
    the next ready step meanwhile.
    """

    def __init__(self, args: WorkerArgs, sink: IncidentSink, directory: UserDirectory) -> None:
        self._sink, self._directory = sink, directory
        self._seq = itertools.count()
        self._heap = [Step(0.0, next(self._seq), i, 0, 0, 0.0) for i in args.incidents]
        self._cond = threading.Condition()
        self._pending = len(args.incidents)
        self._deadline = time.monotonic() + args.time_limit_s
        self.stats: Counter[str] = Counter()

    def run(self, threads: int) -> None:
        running = [threading.Thread(target=self._loop) for _ in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()

    def _next(self) -> Step | None:
        with self._cond:
            while self._pending:
                now = time.monotonic()
                if self._heap and self._heap[0].ready_at <= now:
                    return heapq.heappop(self._heap)
                self._cond.wait(self._heap[0].ready_at - now if self._heap else None)
            self._cond.notify_all()
            return None

    def _loop(self) -> None:
        while (step := self._next()) is not None:
            if step.first_at == 0.0:
                step.first_at = time.monotonic()
            error: BaseException | None = None
            try:
                run_step(step, self._sink, self._directory)
            except Exception as exc:
                error = exc
            with self._cond:
                self._settle(step, error)
                self._cond.notify_all()

    def _settle(self, step: Step, error: BaseException | None) -> None:
        now = time.monotonic()
        if error is None:
            self.stats["calls_done"] += 1
            if step.index + 1 < len(STEPS):
                self._push(Step(now, next(self._seq), step.incident, step.index + 1, 0, now, step.state))
            else:
                self._pending -= 1
            return
        countdown = None
        if isinstance(error, SlackRetryable):
            self.stats["ambiguous" if isinstance(error, SlackAmbiguous) else "task_retries"] += 1
            self.stats[f"retried {STEPS[step.index]}"] += 1
            countdown = SLACK_DELIVERY.countdown(
                step.attempt, retry_after_s=error.retry_after_s, elapsed_s=now - step.first_at
            )
        else:
            self.stats[f"error {type(error).__name__}"] += 1
        if countdown is None or now + countdown > self._deadline:
            self.stats["dropped"] += 1
            self._pending -= 1
            return
        ready_at = now + countdown
        self._push(
            Step(ready_at, next(self._seq), step.incident, step.index, step.attempt + 1, step.first_at, step.state)
        )

    def _push(self, step: Step) -> None:
        heapq.heappush(self._heap, step)


def worker(args: WorkerArgs, go: Any, results: Any) -> None:
    """One worker process, built as the workers build their clients."""
    settings = load_settings(slack_bot_token=args.token, slack_api_url=args.slack_url, slack_timeout_s=10)
    budget = SlackBudget.from_url(args.redis_url, prefix=args.prefix) if args.shared else None
    sink, directory = make_sink(settings, budget=budget), make_directory(settings, budget=budget)
    go.wait()
    work = Worker(args, sink, directory)
    work.run(args.concurrency)
    results.put((args.name, dict(work.stats)))


def run_mode(shared: bool, slack: SlackServer, redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    slack.reset()
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    prefix = f"bench:slack-budget:{uuid.uuid4().hex}"
    incidents = list(range(args.incidents))
    processes = [
        ctx.Process(
            name=f"worker{p}",
            target=worker,
            args=(
                WorkerArgs(
                    name=f"worker{p}",
                    shared=shared,
                    slack_url=slack.base_url,
                    token=slack.token,
                    redis_url=redis_url,
                    prefix=prefix,
                    incidents=incidents[p :: args.processes],
                    concurrency=args.concurrency,
                    time_limit_s=args.time_limit_s,
                ),
                go,
                results,
            ),
        )
        for p in range(args.processes)
    ]
    for process in processes:
        process.start()
    time.sleep(args.warmup_s)  # the children import slack_sdk, pydantic, redis before waiting on `go`
    started = time.monotonic()
    go.set()
    stats: Counter[str] = Counter()
    ended = started
    waiting = {process.name for process in processes}
    give_up_at = started + args.time_limit_s + 120
    misses = 0
    while waiting:
        try:
            name, worker_stats = results.get(timeout=1)
        except queue.Empty:
            ended_early = any(p.name in waiting and not p.is_alive() for p in processes)
            misses = misses + 1 if ended_early else 0
            if misses > 3 or time.monotonic() > give_up_at:
                codes = {p.name: p.exitcode for p in processes if p.name in waiting}
                print(f"worker processes without a result (exit codes): {codes}", file=sys.stderr)
                raise SystemExit(1) from None
            continue
        waiting.discard(name)
        stats.update(worker_stats)
        ended = time.monotonic()
    for process in processes:
        process.join(timeout=30)
    calls = slack.calls()
    posted = [c for c in calls if c.method == "chat.postMessage" and c.status == 200]
    return {
        "mode": "shared budget" if shared else "per-process (today)",
        "elapsed_s": round(ended - started, 1),
        "http_calls": len(calls),
        "http_calls_by_method": {m: sum(1 for c in calls if c.method == m) for m in METHODS},
        "rate_limited": slack.rate_limited_count(),
        "rate_limited_by_method": {m: slack.rate_limited_count(m) for m in METHODS},
        "task_retries": stats.get("task_retries", 0),
        "task_retries_by_step": {step: stats.get(f"retried {step}", 0) for step in STEPS},
        "ambiguous": stats.get("ambiguous", 0),
        "calls_done": stats.get("calls_done", 0),
        "messages_posted": len(posted),
        "top_level_messages": len(slack.top_level_messages(CHANNEL)),
        "dropped": stats.get("dropped", 0),
        "errors": {k: v for k, v in stats.items() if k.startswith("error ")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per process (Celery's concurrency)")
    parser.add_argument("--mode", choices=("both", "per-process", "shared"), default="both")
    parser.add_argument("--time-limit-s", type=float, default=600.0, help="per mode; calls still failing are dropped")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="for the processes to start before the signal")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    modes = {"both": (False, True), "per-process": (False,), "shared": (True,)}[args.mode]
    users = {email(i): f"U{i:06d}" for i in range(args.incidents)}
    redis_server = RedisServer().start()
    rows = []
    try:
        with SlackServer(users=users, enforce_limits=True) as slack:
            for shared in modes:
                rows.append(run_mode(shared, slack, f"{redis_server.url}/0", args))
    finally:
        redis_server.stop()
    posts = args.incidents * POSTS_PER_INCIDENT
    floor_s = max(0, posts - 3)  # 1 a second per channel after a burst of 3
    if args.json:
        print(json.dumps({"incidents": args.incidents, "posts": posts, "floor_s": floor_s, "runs": rows}, indent=2))
        return
    print(
        f"{args.incidents} incidents x {len(STEPS)} Slack calls ({POSTS_PER_INCIDENT} chat.postMessage, "
        f"1 users.lookupByEmail, 1 chat.update), {args.processes} processes x {args.concurrency} threads, "
        f"Slack test server enforcing Slack's limits; floor for {posts} posts in one channel: {floor_s} s\n"
    )
    header = (
        f"{'':22}{'elapsed s':>10}{'HTTP calls':>11}{'429s':>6}  {'429s post/lookup/update':<24}"
        f"{'retries':>8}{'posted':>8}{'dropped':>8}"
    )
    print(header)
    for row in rows:
        by = row["rate_limited_by_method"]
        split = f"{by['chat.postMessage']}/{by['users.lookupByEmail']}/{by['chat.update']}"
        print(
            f"{row['mode']:22}{row['elapsed_s']:>10}{row['http_calls']:>11}{row['rate_limited']:>6}  {split:<24}"
            f"{row['task_retries']:>8}{row['messages_posted']:>8}{row['dropped']:>8}"
        )
        by_step = ", ".join(f"{step} {n}" for step, n in row["task_retries_by_step"].items() if n)
        print(f"{'':22}retries by step: {by_step or 'none'}")
        if row["errors"] or row["ambiguous"]:
            print(f"{'':22}errors: {row['errors']}, ambiguous answers: {row['ambiguous']}")


if __name__ == "__main__":
    main()
