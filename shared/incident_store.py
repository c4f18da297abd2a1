"""Incident state in Redis: claims, ids, the Slack thread, once-only markers and the event stream.

Everything that makes "nothing lost, nothing doubled" true lives here, as small atomic Redis
operations, so the commander and the specialists stay stateless:

- ``claim``: one incident per (dag_id, task_id, run_id, map_index, try_number), however many
  times Airflow fires the callback; a redelivered triage task resumes its own claim. Its id comes
  from the day's counter ``pic:seq:{YYYYMMDD}``; a counter Redis does not have is seeded first
  (``_seed``: the durable history's highest number that day, asked for at most ``SEED_TIMEOUT_S``).
- ``once``: a marker set at most once (thread replies, owner pings), so retries never post twice.
- ``record_finding`` / ``events``: each specialist's finding, kept for the errback and streamed to
  ``incident-commander watch``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import redis
from pydantic import ValidationError

from shared.contracts import AnyFinding, Incident, Report, dump, parse_finding_json
from shared.redact import clean, redact_json

log = logging.getLogger(__name__)

_PREFIX = "pic"
_EVENTS_MAXLEN = 200
# ``failures``: what an operator sees; bounded in count, size and age so a storm of rejected
# messages cannot fill Redis, and redacted like everything else we store.
FAILURES_MAX_ENTRIES = 1_000
FAILURES_TTL_S = 7 * 86_400
FAILURE_REASON_MAX_CHARS = 1_000
FAILURE_PAYLOAD_MAX_CHARS = 4_000
# The day's id counter outlives the day (a late incident's neighbours), then goes.
SEQ_TTL_S = 3 * 86_400
# The longest a claim waits for the durable history to seed a counter Redis does not have: the
# history is never on an incident's path for longer. Past it the claim starts from the best floor
# it has; the history's answer, when it comes, still raises the counter for the claims after.
SEED_TIMEOUT_S = 0.2
# Raise a counter to at least ARGV[1] (never lower it), creating it when missing; (re)arm its TTL.
_RAISE_COUNTER = """
local current = redis.call('GET', KEYS[1])
local floor = tonumber(ARGV[1])
if not current or floor > tonumber(current) then
  redis.call('SET', KEYS[1], floor)
  current = floor
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return tonumber(current)
"""


@dataclass(frozen=True)
class Claim:
    incident_id: str
    is_new: bool  # False: a duplicate trigger (another task already owns this failure)


@dataclass
class _Answer:
    """The history's answer to one seed, handed from its thread to the claim that waits for it."""

    done: threading.Event = field(default_factory=threading.Event)
    number: int = 0
    error: Exception | None = None


class IncidentStore:
    """Incident state on one Redis database. Build it with ``IncidentStore.from_url``."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: int = 86_400,
        seed_sequence: Callable[[date], int] | None = None,
        seed_timeout_s: float = SEED_TIMEOUT_S,
    ) -> None:
        self._r = client
        self._ttl_s = ttl_s
        # The highest incident-id number the durable history knows for a day: the day's counter
        # starts there when Redis has lost it (restarted empty), so no id is given out twice.
        self._seed_sequence = seed_sequence
        self._seed_timeout_s = seed_timeout_s
        # The highest number this process gave out per day: a floor that outlives Redis's counter.
        self._floors: dict[str, int] = {}
        self._floors_lock = threading.Lock()
        self._raise_counter = self._r.register_script(_RAISE_COUNTER)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_s: int = 86_400,
        seed_sequence: Callable[[date], int] | None = None,
        seed_timeout_s: float = SEED_TIMEOUT_S,
    ) -> IncidentStore:
        client = redis.Redis.from_url(
            _redis_py_url(url), socket_connect_timeout=2, socket_timeout=5, decode_responses=True
        )
        return cls(client, ttl_s=ttl_s, seed_sequence=seed_sequence, seed_timeout_s=seed_timeout_s)

    # -- claiming -----------------------------------------------------------------------------
    def claim(self, dedup_key: str, *, owner_task_id: str) -> Claim:
        """Claim a failure for ``owner_task_id``; allocate its incident id the first time."""
        key = f"{_PREFIX}:claim:{dedup_key}"
        won = self._r.hsetnx(key, "task_id", owner_task_id)
        if won:
            self._r.expire(key, self._ttl_s)
        owner = _text(self._r.hget(key, "task_id"))
        incident_id = _text(self._r.hget(key, "incident_id"))
        if owner != owner_task_id:
            # A duplicate: the owner may still be allocating the id, so it can be None here.
            return Claim(incident_id=incident_id or "", is_new=False)
        if incident_id is None:
            self._r.hsetnx(key, "incident_id", self._next_incident_id())
            incident_id = _text(self._r.hget(key, "incident_id"))
        assert incident_id is not None
        return Claim(incident_id=incident_id, is_new=True)

    def incident_id_for(self, dedup_key: str) -> str | None:
        return _text(self._r.hget(f"{_PREFIX}:claim:{dedup_key}", "incident_id"))

    def wait_for_incident_id(self, dedup_key: str, *, timeout_s: float, poll_s: float = 0.01) -> str | None:
        """The incident id once the commander has claimed ``dedup_key``, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.incident_id_for(dedup_key)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(poll_s)

    def _next_incident_id(self) -> str:
        today = datetime.now(UTC).date()
        day = today.strftime("%Y%m%d")
        seq_key = _seq_key(today)
        if not self._r.exists(seq_key):  # the day's first incident, or Redis lost its counter
            self.raise_counter(today, self._seed(today))  # max, not set: two commanders seed alike
        seq = int(self._r.incr(seq_key))
        self._r.expire(seq_key, SEQ_TTL_S)
        self._remember(day, seq)
        return f"INC-{day}-{seq:04d}"

    def raise_counter(self, day: date, number: int) -> int:
        """Raise ``day``'s id counter to at least ``number`` (never lower it; created when missing, which
        is what seeding it is); the counter after. So the next id of that day is above ``number``."""
        return int(self._raise_counter(keys=[_seq_key(day)], args=[max(0, int(number)), SEQ_TTL_S]))

    def id_counter(self, day: date) -> int | None:
        """``day``'s id counter (the last number given out), None when Redis has none."""
        value = _text(self._r.get(_seq_key(day)))
        return None if value is None else int(value)

    def _remember(self, day: str, number: int) -> None:
        with self._floors_lock:
            self._floors[day] = max(number, self._floors.get(day, 0))
            for old in sorted(self._floors)[:-3]:  # today, and a day or two of clock skew
                del self._floors[old]

    def _floor(self, day: date) -> int:
        with self._floors_lock:
            return self._floors.get(day.strftime("%Y%m%d"), 0)

    def _seed(self, day: date) -> int:
        """Where ``day``'s missing counter starts: the highest of the history's number for that day and
        of this process's own (``_floor``). The history is asked in a thread and waited for at most
        ``seed_timeout_s``: past that, or when it fails, this process's floor (and a warning)."""
        floor = self._floor(day)
        if self._seed_sequence is None:
            return floor
        answer = _Answer()
        threading.Thread(
            target=self._ask_history, args=(day, answer), name=f"incident-id-seed-{day:%Y%m%d}", daemon=True
        ).start()
        if not answer.done.wait(self._seed_timeout_s):
            log.warning(
                "incident ids: the durable history did not answer within %.0f ms for %s: the counter starts "
                "at %d (this process's highest); it is raised to the history's number when it answers",
                self._seed_timeout_s * 1000,
                day,
                floor,
            )
            return floor
        if answer.error is not None:  # the history is down: ids may repeat, and its writes will say so
            log.warning(
                "incident ids: the durable history could not seed the counter for %s: %s; it starts at %d "
                "(this process's highest)",
                day,
                answer.error,
                floor,
            )
            return floor
        return max(floor, answer.number)

    def _ask_history(self, day: date, answer: _Answer) -> None:
        """The seed's thread: ask the history, hand the answer over, then raise the counter to it. The
        raise (a max) is what makes an answer that came too late for its claim count for the next ones."""
        assert self._seed_sequence is not None
        try:
            answer.number = max(0, int(self._seed_sequence(day)))
        except Exception as exc:
            answer.error = exc
            return
        finally:
            answer.done.set()
        try:
            self.raise_counter(day, answer.number)
        except Exception as exc:
            log.warning("incident ids: could not raise the counter for %s to %d: %s", day, answer.number, exc)

    # -- the incident and its Slack message ---------------------------------------------------
    def save_incident(self, incident: Incident) -> None:
        key = f"{_PREFIX}:incident:{incident.incident_id}"
        self._r.hset(key, mapping={"incident": json.dumps(dump(incident))})
        self._r.expire(key, self._ttl_s)

    def get_incident(self, incident_id: str) -> Incident | None:
        raw = self._r.hget(f"{_PREFIX}:incident:{incident_id}", "incident")
        return None if raw is None else Incident.model_validate_json(raw)

    def set_field(self, incident_id: str, field: str, value: str) -> None:
        self._r.hset(f"{_PREFIX}:incident:{incident_id}", field, value)

    def delete_field(self, incident_id: str, field: str) -> None:
        self._r.hdel(f"{_PREFIX}:incident:{incident_id}", field)

    def get_field(self, incident_id: str, field: str) -> str | None:
        return _text(self._r.hget(f"{_PREFIX}:incident:{incident_id}", field))

    def lock(self, name: str, *, timeout_s: float) -> Any:
        """A Redis lock (context manager) held at most ``timeout_s``; waits up to that long for it."""
        return self._r.lock(f"{_PREFIX}:lock:{name}", timeout=timeout_s, blocking_timeout=timeout_s)

    # -- once-only side effects ---------------------------------------------------------------
    def once(self, marker: str, *, ttl_s: float | None = None) -> bool:
        """True the first time ``marker`` is seen (within ``ttl_s``, default the store's TTL), False after."""
        ttl_ms = int((ttl_s if ttl_s is not None else self._ttl_s) * 1000)
        return bool(self._r.set(f"{_PREFIX}:once:{marker}", "1", nx=True, px=max(1, ttl_ms)))

    def forget(self, marker: str) -> None:
        """Undo ``once`` after the side effect failed, so a retry may do it."""
        self._r.delete(f"{_PREFIX}:once:{marker}")

    # -- findings, report and the event stream ------------------------------------------------
    def record_finding(self, incident_id: str, finding: AnyFinding) -> None:
        key = f"{_PREFIX}:findings:{incident_id}"
        payload = json.dumps(dump(finding))
        self._r.hset(key, str(finding.specialist), payload)
        self._r.expire(key, self._ttl_s)
        self.publish(incident_id, "finding", payload)

    def findings(self, incident_id: str) -> dict[str, AnyFinding]:
        """The findings recorded so far, by specialist; one that cannot be read (an older schema
        version) is left out and logged: its specialist is then reported unavailable."""
        found: dict[str, AnyFinding] = {}
        for key, value in self._r.hgetall(f"{_PREFIX}:findings:{incident_id}").items():
            try:
                found[_text(key) or ""] = parse_finding_json(value)
            except ValidationError as exc:
                log.error(
                    "%s: a stored %s finding is unreadable: %s",
                    incident_id,
                    _text(key),
                    "; ".join(e["msg"] for e in exc.errors())[:500],
                )
        return found

    def record_report(self, incident_id: str, report: Report) -> None:
        payload = json.dumps(dump(report))
        self.set_field(incident_id, "report", payload)
        self.publish(incident_id, "report", payload)

    def get_report(self, incident_id: str) -> Report | None:
        raw = self.get_field(incident_id, "report")
        return None if raw is None else Report.model_validate_json(raw)

    def publish(self, incident_id: str, kind: str, payload: str) -> None:
        key = f"{_PREFIX}:events:{incident_id}"
        self._r.xadd(key, {"kind": kind, "data": payload}, maxlen=_EVENTS_MAXLEN, approximate=True)
        self._r.expire(key, self._ttl_s)

    def events(self, incident_id: str, *, after: str = "0", block_ms: int = 1_000) -> list[tuple[str, str, str]]:
        """Events after stream id ``after``: (id, kind, json payload); blocks up to ``block_ms``."""
        reply: Any = self._r.xread({f"{_PREFIX}:events:{incident_id}": after}, block=block_ms, count=50)
        if not reply:
            return []
        _, entries = reply[0]
        return [(entry_id, fields["kind"], fields["data"]) for entry_id, fields in entries]

    # -- visible failures ---------------------------------------------------------------------
    def record_failure(self, *, what: str, reason: str, payload: dict[str, Any] | None = None) -> None:
        """Keep a trigger we could not turn into a post where an operator will see it.

        Redacted and trimmed (a rejected 10 MB trigger is kept as its first few KB), at most
        FAILURES_MAX_ENTRIES entries, and the list expires FAILURES_TTL_S after the last failure.
        """
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "what": clean(what, 300),
            "reason": clean(reason, FAILURE_REASON_MAX_CHARS),
            "payload": _trimmed(payload),
        }
        key = f"{_PREFIX}:failures"
        with self._r.pipeline(transaction=False) as pipe:
            pipe.lpush(key, json.dumps(entry, default=str))
            pipe.ltrim(key, 0, FAILURES_MAX_ENTRIES - 1)
            pipe.expire(key, FAILURES_TTL_S)
            pipe.execute()

    def failures(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest recorded failures, at most ``limit``, none older than FAILURES_TTL_S."""
        cutoff = datetime.now(UTC).timestamp() - FAILURES_TTL_S
        out = []
        for raw in self._r.lrange(f"{_PREFIX}:failures", 0, limit - 1):
            entry = json.loads(raw)
            try:
                if datetime.fromisoformat(entry["at"]).timestamp() < cutoff:
                    continue
            except (KeyError, TypeError, ValueError):
                pass
            out.append(entry)
        return out

    def server_time_s(self) -> float:
        """Redis's clock (``TIME``): one clock for every worker, whatever their own clocks say."""
        seconds, micros = self._r.time()
        return float(seconds) + float(micros) / 1e6

    def ping(self) -> bool:
        return bool(self._r.ping())


def _trimmed(payload: dict[str, Any] | None) -> Any:
    """``payload`` redacted (``redact_json``), or its redacted head when its JSON is over FAILURE_PAYLOAD_MAX_CHARS."""
    if payload is None:
        return None
    text = json.dumps(payload, default=str)
    if len(text) <= FAILURE_PAYLOAD_MAX_CHARS:
        return redact_json(json.loads(text))
    return {"trimmed": True, "chars": len(text), "head": clean(text, FAILURE_PAYLOAD_MAX_CHARS // 2)}


def _seq_key(day: date) -> str:
    return f"{_PREFIX}:seq:{day:%Y%m%d}"


def _text(value: bytes | str | None) -> str | None:
    """Replies are str (decode_responses=True); redis-py's types also allow bytes."""
    return value.decode() if isinstance(value, bytes) else value


def _redis_py_url(url: str) -> str:
    """Celery spells a unix socket ``redis+socket:///path?virtual_host=N``; redis-py wants ``unix://``."""
    if url.startswith("redis+socket://"):
        path, _, query = url[len("redis+socket://") :].partition("?")
        db = "0"
        for part in query.split("&"):
            if part.startswith("virtual_host="):
                db = part.split("=", 1)[1]
        return f"unix://{path}?db={db}"
    return url
