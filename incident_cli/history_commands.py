"""The incident history (``shared.incident_db``): ``db upgrade``, ``incidents``, ``show``, ``history``.

The database is ``INCIDENT_DB_URL`` (default: the SQLite file ``.incident-commander/incidents.db``),
read by ``database_url`` alone. Untrusted text (root causes, owners) is printed as text, never as
rich markup.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from incident_cli.app import app, command_settings, console

if TYPE_CHECKING:
    from shared.incident_db import IncidentSummary

db_app = typer.Typer(help="The incident history's database (INCIDENT_DB_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400}
_SINCE_HELP = "Only incidents {what} since then: 30m, 12h, 7d, 2w, or an ISO 8601 time (UTC if no zone)"
_CAUSE_CHARS = 80


def database_url() -> str:
    """The incident history's URL: ``INCIDENT_DB_URL`` (settings), else the embedded SQLite file."""
    return str(command_settings().incident_db_url)


@db_app.command("upgrade")
def db_upgrade(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Create the incident history's tables, or bring them to the newest revision (safe to run again)."""
    from shared.incident_db import describe, head_revision, upgrade

    url = database_url()
    revision = upgrade(url)
    if json_out:
        print(json.dumps({"database": describe(url), "revision": revision, "head": head_revision()}))
        return
    console.print(f"{describe(url)}: at revision {revision} (the newest)", highlight=False, soft_wrap=True)


@app.command()
def incidents(
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    since: Annotated[str | None, typer.Option("--since", help=_SINCE_HELP.format(what="active"))] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The incidents recorded in the history, newest first."""
    from shared.incident_db import open_store

    after = parse_since(since)
    store = open_store(database_url())
    try:
        found = store.list_incidents(open_only=open_only, since=after, limit=limit)
    finally:
        store.close()
    _print(found, json_out=json_out, empty="No incidents recorded" + _since_words(after))


@app.command()
def history(
    target: Annotated[str, typer.Argument(metavar="DAG[.TASK]", help="A DAG id, or DAG.TASK.")],
    task: Annotated[
        str | None, typer.Option("--task", help="The task id: then DAG[.TASK] is read as the DAG id, dots and all.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help=_SINCE_HELP.format(what="with a failure"))] = "30d",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The incidents in which a DAG (or one of its tasks) failed, newest first.

    Airflow ids may hold dots (a task in a TaskGroup is group.task), so a.b.c matches the DAG a.b.c, the DAG a with task b.c and the DAG a.b with task c; --task says which.
    """  # noqa: E501 - one line: the help shows the docstring's line breaks
    from shared.incident_db import open_store

    after = parse_since(since)
    store = open_store(database_url())
    try:
        found: dict[str, IncidentSummary] = {}
        for dag_id, task_id in dag_task_candidates(target, task):
            for incident in store.history(dag_id, task_id, since=after, limit=limit):
                found[incident.id] = incident
    finally:
        store.close()
    newest = sorted(found.values(), key=lambda i: i.sequence, reverse=True)[:limit]
    _print(newest, json_out=json_out, empty=f"No incidents of {target}" + _since_words(after))


@app.command()
def show(
    incident_id: Annotated[str, typer.Argument(metavar="INC", help="An incident id, e.g. INC-20261123-0007.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One incident from the history: its cause, Slack message, failures and timeline."""
    from shared.incident_db import IncidentNotFound, open_store

    store = open_store(database_url())
    try:
        found = store.get(incident_id)
    finally:
        store.close()
    if found is None:
        raise IncidentNotFound(f"{incident_id} is not in the history ({database_url_described()})")
    if json_out:
        print(json.dumps(found.to_json(), indent=2))
        return
    incident = found.incident
    rows = [
        ("status", incident.status.value + (f" ({incident.resolution_note})" if incident.resolution_note else "")),
        ("opened", f"{incident.opened_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("cause", ": ".join(p for p in (incident.error_class, incident.root_cause) if p) or "-"),
        ("key object", incident.key_object or "-"),
        ("failed node", incident.failed_node or "-"),
        ("fingerprint", incident.fingerprint or "-"),
        ("owner", incident.owner or "-"),
        ("Slack", f"channel {incident.channel}, message ts {incident.ts}" if incident.ts else "not posted yet"),
    ]
    head = Table(show_header=False, box=None, title=Text(incident.id))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    for name, value in rows:
        head.add_row(name, Text(value))
    members = Table(title="failures")
    for column in ("dag.task", "run", "try", "failed at (UTC)"):
        members.add_column(column, overflow="fold")
    for m in found.members:
        when = f"{m.failed_at:%Y-%m-%d %H:%M:%S}"
        members.add_row(Text(f"{m.dag_id}.{m.task_id}"), Text(m.run_id), str(m.try_number), when)
    timeline = Table(title="timeline")
    for column in ("at (UTC)", "event", "detail"):
        timeline.add_column(column, overflow="fold")
    for e in found.events:
        timeline.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, Text(json.dumps(e.detail) if e.detail else ""))
    console.print(head, members, timeline)


def database_url_described() -> str:
    from shared.incident_db import describe

    return describe(database_url())


def dag_task_candidates(target: str, task: str | None) -> list[tuple[str, str | None]]:
    """The (dag_id, task_id) pairs ``DAG[.TASK]`` may mean: the whole as a DAG, then each dot as the split."""
    if task is not None:
        return [(target, task)]
    splits = [(target[:i], target[i + 1 :]) for i, c in enumerate(target) if c == "."]
    return [(target, None), *((dag, t) for dag, t in splits if dag and t)]


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """``7d``, ``12h``, ``30m``, ``2w`` before ``now``, or an ISO 8601 time (UTC without a zone); None for None."""
    if text is None or not text.strip():
        return None
    match = _SINCE.match(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(seconds=float(match[1]) * _UNIT_S[match[2].lower()])
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter("use 30m, 12h, 7d, 2w or an ISO 8601 time", param_hint="--since") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since_words(after: datetime | None) -> str:
    return f" since {after:%Y-%m-%d %H:%M} UTC." if after else "."


def _print(found: list[IncidentSummary], *, json_out: bool, empty: str) -> None:
    if json_out:
        print(json.dumps([incident.to_json() for incident in found], indent=2))
    elif found:
        console.print(incidents_table(found))
    else:
        console.print(empty, highlight=False, soft_wrap=True)


def incidents_table(found: list[IncidentSummary]) -> Table:
    """One row per incident; what came from a failure (ids, cause, owner) as plain text, never markup."""
    table = Table(show_lines=False)
    for column in ("incident", "status", "opened (UTC)", "failures"):
        table.add_column(column, no_wrap=True)
    for column in ("first failure", "cause", "owner"):
        table.add_column(column, overflow="fold")
    for incident in found:
        cause = ": ".join(part for part in (incident.error_class, incident.root_cause) if part) or "-"
        table.add_row(
            incident.id,
            incident.status.value,
            f"{incident.opened_at:%Y-%m-%d %H:%M}",
            str(incident.member_count),
            Text(f"{incident.dag_id}.{incident.task_id}"),
            Text(cause if len(cause) <= _CAUSE_CHARS else cause[: _CAUSE_CHARS - 1] + "…"),
            Text(incident.owner or "-"),
        )
    return table
