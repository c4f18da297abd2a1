"""Whether a piece of dbt evidence belongs to the failure it would explain: the one policy.

A deployment's ``DBT_PROJECT_DIR`` is shared: several DAGs run dbt in it, so ``target/run_results.json``
and ``logs/dbt.log`` hold whatever ran *last*, which is often not the task that failed. An artifact is
evidence for this failure only when

1. its dbt invocation id appears in this try's task log, or
2. it was written inside this try's window (the task instance's start and end, from the trigger),

and never when this try's log was read and shows no dbt invocation at all (a Python, bash or sensor
task does not borrow the root cause or the owner of the last dbt run), nor when this try's log names
other dbt invocations, nor when this try's log names the nodes that failed and the artifact's failed
nodes are none of them (two DAGs running dbt in one project at once). Everything here returns a
:class:`Verdict` whose ``reason`` is the one line the finding shows ("target/run_results.json: written
at 2026-11-23 09:22:05 UTC, before this try started at 2026-11-23 09:40:00 UTC: not used").

Both the log analyzer and the owner notifier ask this module, so they never disagree about what
belongs to the failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.contracts import Trigger

# Clocks of the Airflow worker (start/end dates) and of the machine dbt ran on (generated_at) may
# differ by a little; an artifact written this close outside the window is still this try's.
CLOCK_SKEW = timedelta(seconds=30)
_MAX_LINE = 64 * 1024  # characters of one log line looked at
_MAX_IDS = 50  # dbt invocation ids remembered from one task log
_CHUNK = 8 * 1024 * 1024  # bytes read at a time from a task log

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# dbt.log's invocation header: "===== 11:22:11.255483 | <uuid> =====" (dbt >= 1.5: time of day only),
# "===== 2022-06-21 10:45:34.196823 | <uuid> =====" (dbt <= 1.4, with the date).
_HEADER = r"^=+ (?:\d{4}-\d{2}-\d{2} )?[\d:.]+ \| (" + _UUID + r") =+"
# That dbt ran: "Running with dbt=1.11.16" (every dbt command's first line), a JSON log event's
# "invocation_id" key (also JSON-escaped inside an Airflow 3 JSON log line), or a dbt.log header.
_DBT_RAN = re.compile(r"Running with dbt=\d|\\?\"invocation_id\\?\"|" + _HEADER, re.M)
# The ids of dbt invocations: only where dbt writes them (a JSON event's key, dbt.log's header, dbt
# Cloud's "invocation id"), never any UUID after the word "invocation" (a Lambda's, an API's).
_INVOCATION_ID = re.compile(
    r"\\?\"invocation_id\\?\"\s*:\s*\\?\"("
    + _UUID
    + r")|"
    + _HEADER
    + r"|dbt\b.{0,80}?invocation[ _]id\W{1,4}("
    + _UUID
    + ")",
    re.I | re.M,
)
# dbt's lines that name a node that failed, in text and console output (colours stripped first):
# "Failure in test x (…)", "Runtime Error in model x (…)", "12 of 30 ERROR creating sql table model
# main.x ....... [ERROR in 0.2s]", "9 of 11 FAIL 1 x ......... [FAIL 1 in 0.03s]", "CANCEL query
# model.pkg.x". The name is the last dotted part (schema.x, model.pkg.x -> x). A result line must end
# in dbt's dotted leader and bracket, so "attempt 1 of 3 ERROR retrying ..." names nothing.
_COLOUR = re.compile(r"(?:\x1b|\\u001b|\\x1b)\[[0-9;]*m")
_FAILED_NODE = re.compile(
    r"\b(?:Failure|(?:Database|Runtime|Compilation|Dependency|Parsing) Error) in "
    r"(?:model|test|snapshot|seed|source|unit_test|sql_operation) (?P<a>[\w.\-]+) \("
    r"|\b\d+ of \d+ ERROR creating \w+(?: \w+)*? (?:model|seed|snapshot) (?P<b>[\w.\-]+) \.{3,} \["
    r"|\b\d+ of \d+ (?:FAIL|ERROR) \d* ?(?P<c>[\w.\-]+) \.{3,} \["
    r"|\bCANCEL query (?:model|test|snapshot|seed)\.[\w\-]+\.(?P<d>[\w.\-]+)"
)
# One C pass over each chunk finds the markers; only the lines holding one are looked at closely (a
# task log is mostly other text). No leading wildcard: "[^\n]*(marker)" backtracks on every line.
_MARKER = re.compile(rb"dbt|invocation|Error in |Failure in |ERROR creating|FAIL |CANCEL query|=====")
_MAX_NAMES = 5_000
_HEADER_LINE = re.compile(_HEADER)


@dataclass(frozen=True, slots=True)
class TryWindow:
    """When this try ran. ``started_at`` None: not known (an older producer, a bare CLI trigger)."""

    started_at: datetime | None
    ended_at: datetime  # the task's end, else the failure time

    @classmethod
    def of(cls, trigger: Trigger) -> TryWindow:
        return cls(started_at=trigger.started_at, ended_at=trigger.ended_at or trigger.failed_at)

    def describe(self) -> str:
        start = _clock(self.started_at) if self.started_at else "an unknown time"
        return f"started {start}, ended {_clock(self.ended_at)}"


@dataclass(frozen=True, slots=True)
class TaskLogDbt:
    """What this try's own log says about dbt.

    ``read`` False: no task log could be read; then ``failed_names`` holds what the trigger itself
    names (its model, the nodes its exception text names, its task id's parts), which an artifact
    must fail on to be tied to this try by its time alone (``stand_in``).
    """

    read: bool
    ran_dbt: bool = False
    invocation_ids: frozenset[str] = frozenset()
    failed_names: frozenset[str] = frozenset()  # nodes the log says failed, by name, lower case
    problem: str | None = None  # why the log could not be read, when it was there

    @classmethod
    def unread(cls, problem: str | None = None) -> TaskLogDbt:
        return cls(read=False, problem=problem)

    @classmethod
    def stand_in(cls, trigger: Trigger, problem: str | None = None) -> TaskLogDbt:
        """No task log: what the trigger names stands in for it (never enough alone to say dbt ran)."""
        names = set(cls.of_text(trigger.exception or "").failed_names)
        names.update(_last_part(n) for n in (trigger.model, *trigger.task_id.split(".")) if n)
        return cls(read=False, failed_names=frozenset(names), problem=problem)

    @classmethod
    def scan(cls, lines: Iterable[str]) -> TaskLogDbt:
        """Scan a log's lines (any length; each line bounded) for dbt invocations, their ids and the
        nodes they say failed. Lines without any dbt marker are skipped cheaply."""
        found = _Found()
        for raw in lines:
            found.add(raw[:_MAX_LINE])
        return found.result()

    @classmethod
    def of_file(cls, path: Path) -> TaskLogDbt:
        """Scan a log file in chunks: one bytes regex pass finds the candidate lines (hundreds of MB/s)."""
        found = _Found()
        with path.open("rb") as handle:
            rest = b""
            while chunk := handle.read(_CHUNK):
                chunk = rest + chunk
                cut = chunk.rfind(b"\n") + 1
                rest, chunk = (chunk[cut:], chunk[:cut]) if cut else (chunk[-_MAX_LINE:], b"")
                _candidates(chunk, found)
            _candidates(rest, found)
        return found.result()

    @classmethod
    def of_text(cls, text: str) -> TaskLogDbt:
        return cls.scan(text.splitlines())


def _candidates(chunk: bytes, found: _Found) -> None:
    """Hand ``found`` each line of ``chunk`` that holds a marker, once."""
    done = 0
    for match in _MARKER.finditer(chunk):
        if match.start() < done:
            continue  # a second marker on a line already handed over
        start = chunk.rfind(b"\n", 0, match.start()) + 1
        end = chunk.find(b"\n", match.end())
        done = len(chunk) if end == -1 else end
        found.add(chunk[start:done].decode("utf-8", "replace")[:_MAX_LINE])


class _Found:
    """What a scan has found so far."""

    def __init__(self) -> None:
        self.ran = False
        self.ids: set[str] = set()
        self.names: set[str] = set()

    def add(self, line: str) -> None:
        if len(self.names) < _MAX_NAMES and ("in " in line or " of " in line or "CANCEL" in line):
            for match in _FAILED_NODE.finditer(_COLOUR.sub("", line)):
                self.names.add(_last_part(next(g for g in match.groups() if g)))
        if "dbt" not in line and "invocation" not in line and "=====" not in line:
            return
        self.ran = self.ran or bool(_DBT_RAN.search(line))
        for match in _INVOCATION_ID.finditer(line):
            if len(self.ids) < _MAX_IDS:
                self.ids.add(next(g for g in match.groups() if g).lower())

    def result(self) -> TaskLogDbt:
        return TaskLogDbt(
            read=True,
            ran_dbt=self.ran or bool(self.ids),
            invocation_ids=frozenset(self.ids),
            failed_names=frozenset(self.names),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an artifact is used, and the one line that says why."""

    used: bool
    reason: str


def judge_artifact(
    name: str,
    *,
    generated_at: datetime | None,
    invocation_id: str | None,
    window: TryWindow,
    task_log: TaskLogDbt,
    failed_nodes: Iterable[str] = (),
) -> Verdict:
    """May ``name`` (e.g. "target/run_results.json") explain this try's failure? See the module doc.

    ``failed_nodes``: the names (or unique ids) of the nodes the artifact says failed. When this try's
    log names failed nodes and none of them is among these, the artifact is another run's.
    """
    invocation = (invocation_id or "").lower() or None
    if invocation and invocation in task_log.invocation_ids:
        return Verdict(True, f"{name}: dbt invocation {invocation} appears in this try's log: used")
    if task_log.read and not task_log.ran_dbt:
        return Verdict(
            False, f"{name}: this try's log shows no dbt invocation, so no dbt artifact is its evidence: not used"
        )
    if task_log.invocation_ids:
        theirs = ", ".join(sorted(task_log.invocation_ids)[:3])
        return Verdict(
            False,
            f"{name}: written by dbt invocation {invocation or 'unknown'}, but this try's log shows "
            f"invocation {theirs}: not used",
        )
    theirs_failed = sorted({_last_part(node) for node in failed_nodes})
    if not task_log.read and not task_log.failed_names.intersection(theirs_failed):
        # No log to say whether this try ran dbt: a bash or Python task failing while another DAG's
        # dbt run wrote its artifacts would borrow them by time alone. The trigger must name one of
        # the artifact's failed nodes (its model, its exception text, its task id).
        why = f" ({task_log.problem})" if task_log.problem else ""
        return Verdict(
            False,
            f"{name}: no task log was read for this try{why}, and nothing the trigger names is among its "
            f"failed nodes ({', '.join(theirs_failed[:3]) or 'none'}): the time alone does not tie it, not used",
        )
    if theirs_failed and task_log.failed_names and not task_log.failed_names.intersection(theirs_failed):
        return Verdict(
            False,
            f"{name}: its failed nodes ({', '.join(theirs_failed[:3])}) are not the ones this try's log names "
            f"({', '.join(sorted(task_log.failed_names)[:3])}): another run's, not used",
        )
    if generated_at is None:
        return Verdict(False, f"{name}: has no generated_at, so it cannot be tied to this try: not used")
    written = _clock(generated_at)
    if window.started_at is None:
        return Verdict(
            False,
            f"{name}: written at {written}, but this try's start time is unknown (the trigger has no "
            "started_at), so it cannot be tied to this try: not used",
        )
    if generated_at < window.started_at - CLOCK_SKEW:
        return Verdict(
            False, f"{name}: written at {written}, before this try started at {_clock(window.started_at)}: not used"
        )
    if generated_at > window.ended_at + CLOCK_SKEW:
        return Verdict(
            False,
            f"{name}: written at {written}, after this try ended at {_clock(window.ended_at)} "
            "(a later dbt run replaced it): not used",
        )
    return Verdict(True, f"{name}: written at {written}, inside this try ({window.describe()}): used")


def dbt_log_invocation(text_lines: Iterable[str], *, invocation_ids: frozenset[str]) -> tuple[list[str], str | None]:
    """The lines of ``logs/dbt.log`` that belong to one of ``invocation_ids`` (dbt appends every
    invocation to one file, each opened by a ``===== <time> | <invocation id> =====`` header), and the
    id of the last such invocation; ([], None) when none of them is in the file. Two dbt processes
    writing one dbt.log at once interleave their lines: those of the other run are kept too (known)."""
    wanted = {i.lower() for i in invocation_ids}
    kept: list[str] = []
    current: str | None = None
    found: str | None = None
    for line in text_lines:
        header = _HEADER_LINE.match(line) if line.startswith("=") else None
        if header:
            current = header[1].lower()
            if current in wanted:
                kept = []  # the last matching invocation wins (a retry in the same try)
                found = current
        if current is not None and current == found:
            kept.append(line)
    return kept, found


def _last_part(node: str) -> str:
    """A node's name as logs print it, lower case: model.pkg.x, schema.x and x are all "x"; a test's
    unique id (test.pkg.name.hash) is its name."""
    parts = node.lower().split(".")
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    return parts[-1]


def _clock(moment: datetime) -> str:
    """A time as the finding shows it: UTC, to the second, with the date."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
