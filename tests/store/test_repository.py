"""The incident history's repository on real SQLite and PostgreSQL: idempotent writes, durable ids, queries."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from shared.contracts import Trigger
from shared.errors import PermanentError
from shared.incident_db import (
    EventKind,
    IdCollision,
    IncidentNotFound,
    IncidentStatus,
    Joined,
    NewMember,
    open_store,
)
from shared.incident_db.engine import parse_url
from shared.incident_db.store import IncidentDB
from tests.store.conftest import incident, member

FIRST = "INC-20261130-0001"


def _kinds(store: IncidentDB, incident_id: str) -> list[str]:
    detail = store.get(incident_id)
    assert detail is not None
    return [e.kind for e in detail.events]


def test_recording_an_opened_incident_twice_records_it_once(store: IncidentDB) -> None:
    # Given an incident opened with its first failure, When a retried task records it again
    first = store.record_opened(incident(), member())
    again = store.record_opened(incident(), member())
    # Then there is one incident, one member and one "opened" entry
    assert (first.is_new, first.member) == (True, Joined(FIRST, True))
    assert (again.is_new, again.member) == (False, Joined(FIRST, False))
    detail = store.get(FIRST)
    assert detail is not None
    assert detail.incident.member_count == 1 and len(detail.members) == 1
    assert _kinds(store, FIRST) == ["opened"]
    assert detail.incident.status is IncidentStatus.OPEN
    assert (detail.incident.dag_id, detail.incident.task_id) == ("hourly_marts", "dbt_build_marts")


def test_a_failure_is_a_member_of_exactly_one_incident(store: IncidentDB) -> None:
    store.record_opened(incident(), member("run-1"))
    store.record_opened(incident("INC-20261130-0002"), member("run-2"))
    # When a failure joins an incident twice, Then it is one member and one "member_joined" entry
    assert store.add_member(FIRST, member("run-3")) == Joined(FIRST, True)
    assert store.add_member(FIRST, member("run-3")) == Joined(FIRST, False)
    # When the same failure is added to another incident, Then it stays where it was, and that is said
    assert store.add_member("INC-20261130-0002", member("run-3")) == Joined(FIRST, False)
    first, second = store.get(FIRST), store.get("INC-20261130-0002")
    assert first is not None and second is not None
    assert [m.run_id for m in first.members] == ["run-1", "run-3"] and first.incident.member_count == 2
    assert [m.run_id for m in second.members] == ["run-2"] and second.incident.member_count == 1
    assert _kinds(store, FIRST) == ["opened", "member_joined"]


def test_a_failure_opened_again_under_a_new_id_stays_with_its_incident(store: IncidentDB) -> None:
    # Given a failure recorded in an incident, and Redis restarted empty: its redelivered trigger got a new id
    store.record_opened(incident(), member())
    opened = store.record_opened(incident("INC-20261130-0002"), member())
    # Then the new incident is recorded (it was posted), the failure stays in the first, and that is on record
    assert opened.is_new and opened.member == Joined(FIRST, False)
    detail = store.get("INC-20261130-0002")
    assert detail is not None and detail.incident.member_count == 0
    assert [(e.kind, e.detail) for e in detail.events][-1] == (
        "reconciled",
        {"dedup_key": member().dedup_key, "member_of": FIRST},
    )


def test_an_id_given_to_two_incidents_is_never_merged_and_says_so(store: IncidentDB) -> None:
    # Given an incident recorded and posted at ts 1.1
    store.record_opened(incident(channel="C1", ts="1.1"), member("run-1"))
    # When Redis, having lost its counter, gave the same id to another failure, posted at ts 2.2
    later = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    other = incident(opened_at=later, channel="C1", ts="2.2")
    with pytest.raises(IdCollision) as raised:
        store.record_opened(other, member("run-2"))
    # Then the error is permanent (not retried) and names the id and both failures
    assert isinstance(raised.value, PermanentError)
    assert FIRST in str(raised.value)
    assert member("run-1").dedup_key in str(raised.value) and member("run-2").dedup_key in str(raised.value)
    # And nothing was merged: one member, the first Slack message; the other incident is on the timeline
    detail = store.get(FIRST)
    assert detail is not None
    assert [m.run_id for m in detail.members] == ["run-1"] and detail.incident.member_count == 1
    assert (detail.incident.ts, detail.incident.opened_at) == ("1.1", incident().opened_at)
    assert store.count_seen("fp-orders") == 1  # the other failure is a member of no incident
    kind, found = detail.events[-1].kind, detail.events[-1].detail
    assert kind == "reconciled" and found is not None
    assert found["recorded"]["dedup_key"] == member("run-1").dedup_key and found["recorded"]["ts"] == "1.1"
    assert found["other"]["dedup_key"] == member("run-2").dedup_key and found["other"]["ts"] == "2.2"
    assert found["other"]["opened_at"] == later.isoformat()
    # And a retried task raises again, without a second entry
    with pytest.raises(IdCollision):
        store.record_opened(other, member("run-2"))
    assert _kinds(store, FIRST) == ["opened", "reconciled"]


def test_the_same_failure_opened_again_much_later_under_its_old_id_is_another_incident(store: IncidentDB) -> None:
    store.record_opened(incident(), member())
    # a retry reads the same opened_at from Redis; a few seconds apart is still the same opening
    store.record_opened(incident(opened_at=incident().opened_at + timedelta(seconds=3)), member())
    with pytest.raises(IdCollision, match="given to two incidents"):
        store.record_opened(incident(opened_at=incident().opened_at + timedelta(minutes=5)), member())
    assert _kinds(store, FIRST) == ["opened", "reconciled"]


def test_racing_writers_record_one_incident_and_one_member(db_url: str) -> None:
    # Given two workers recording the same incident and failure at the same moment (a redelivered task)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        store = open_store(db_url)
        start.wait()
        try:
            store.record_opened(incident(), member())
            store.add_member(FIRST, member("run-2"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each row is there once
    assert errors == []
    store = open_store(db_url)
    detail = store.get(FIRST)
    store.close()
    assert detail is not None
    assert [m.run_id for m in detail.members] == ["scheduled__2026-11-30T09:00:00+00:00", "run-2"]
    assert detail.incident.member_count == 2
    assert [e.kind for e in detail.events] == ["opened", "member_joined"]


def test_an_event_with_a_key_is_recorded_once(store: IncidentDB) -> None:
    store.record_opened(incident(), member())
    assert store.record_event(FIRST, EventKind.REPEAT, {"task": "t-1"}, key="repeat:t-1")
    assert not store.record_event(FIRST, EventKind.REPEAT, {"task": "t-1"}, key="repeat:t-1")
    # A key is the incident's own: the same key on another incident is another entry
    store.record_opened(incident("INC-20261130-0002"), member("other"))
    assert store.record_event("INC-20261130-0002", EventKind.REPEAT, {"task": "t-1"}, key="repeat:t-1")
    # Without a key every call is an entry (a note written twice on purpose)
    store.record_event(FIRST, EventKind.NOTE, {"text": "looking"})
    store.record_event(FIRST, EventKind.NOTE, {"text": "looking"})
    assert _kinds(store, FIRST) == ["opened", "repeat", "note", "note"]


def test_posted_and_resolved_are_recorded_when_they_change(store: IncidentDB) -> None:
    store.record_opened(incident(), member())
    assert store.set_posted(FIRST, channel="C0INCIDENTS", ts="1764493501.000100")
    assert not store.set_posted(FIRST, channel="C0INCIDENTS", ts="1764493501.000100")
    resolved_at = datetime.now(UTC) + timedelta(minutes=1)  # later than anything before: updated_at follows
    assert store.resolve(FIRST, "column renamed back", at=resolved_at)
    assert not store.resolve(FIRST, "again")
    detail = store.get(FIRST)
    assert detail is not None
    summary = detail.incident
    assert (summary.channel, summary.ts) == ("C0INCIDENTS", "1764493501.000100")
    assert (summary.status, summary.resolved_at, summary.resolution_note) == (
        IncidentStatus.RESOLVED,
        resolved_at,
        "column renamed back",
    )
    assert summary.updated_at == resolved_at
    assert _kinds(store, FIRST) == ["opened", "posted", "resolved"]


def test_the_cause_is_recorded_as_given(store: IncidentDB) -> None:
    store.record_opened(incident(fingerprint=None), member())
    store.set_cause(FIRST, fingerprint="fp-x", error_class="invalid_identifier", root_cause="amount_usd not found")
    store.set_cause(FIRST, owner="<@U0PRIYA>")  # None leaves the others as they are
    detail = store.get(FIRST)
    assert detail is not None
    summary = detail.incident
    assert (summary.fingerprint, summary.error_class, summary.root_cause, summary.owner) == (
        "fp-x",
        "invalid_identifier",
        "amount_usd not found",
        "<@U0PRIYA>",
    )


def test_writing_to_an_unknown_incident_says_so(store: IncidentDB) -> None:
    with pytest.raises(IncidentNotFound, match="no incident INC-20261130-0042"):
        store.add_member("INC-20261130-0042", member())
    with pytest.raises(IncidentNotFound):
        store.record_event("INC-20261130-0042", EventKind.NOTE)
    with pytest.raises(IncidentNotFound):
        store.set_posted("INC-20261130-0042", channel="C1", ts="1.1")
    with pytest.raises(IncidentNotFound):
        store.resolve("INC-20261130-0042")
    assert store.get("INC-20261130-0042") is None
    with pytest.raises(ValueError, match="not an incident id"):
        store.record_opened(incident("INC-1"), member())


def test_sequences_grow_and_are_never_given_twice_even_after_a_row_is_deleted(db_url: str) -> None:
    store = open_store(db_url)
    store.record_opened(incident("INC-20261130-0001"), member("a"))
    store.record_opened(incident("INC-20261130-0002"), member("b"))
    store.close()
    # Given the newest incident deleted by hand, and the database reopened (a new process)
    engine = create_engine(parse_url(db_url))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM incidents WHERE id = 'INC-20261130-0002'"))
    engine.dispose()
    reopened = open_store(db_url)
    reopened.record_opened(incident("INC-20261130-0003"), member("c"))
    # Then the next incident takes a number never given before
    assert [i.sequence for i in reopened.list_incidents()] == [3, 1]
    reopened.close()


def test_seed_sequence_is_the_highest_id_number_per_day_or_overall(store: IncidentDB) -> None:
    assert store.seed_sequence() == 0
    store.record_opened(incident("INC-20261129-9999"), member("a"))
    store.record_opened(incident("INC-20261130-0002"), member("b"))
    store.record_opened(incident("INC-20261130-0010"), member("c"))
    assert store.seed_sequence(day=date(2026, 11, 30)) == 10
    assert store.seed_sequence(day=date(2026, 11, 29)) == 9999
    assert store.seed_sequence(day=date(2026, 12, 1)) == 0
    assert store.seed_sequence() == 9999
    store.record_opened(incident("INC-20261130-10000"), member("d"))  # numbers, not text: 10000 > 9999
    assert store.seed_sequence() == 10000


def test_list_incidents_open_only_and_since(store: IncidentDB) -> None:
    now = datetime.now(UTC)
    store.record_opened(incident("INC-20261120-0001", opened_at=now - timedelta(days=10)), member("old"))
    store.record_opened(incident("INC-20261129-0001", opened_at=now - timedelta(days=1)), member("new"))
    store.record_opened(incident("INC-20261129-0002", opened_at=now - timedelta(hours=2)), member("fixed"))
    store.resolve("INC-20261129-0002", "done")
    assert [i.id for i in store.list_incidents()] == ["INC-20261129-0002", "INC-20261129-0001", "INC-20261120-0001"]
    assert [i.id for i in store.list_incidents(open_only=True)] == ["INC-20261129-0001", "INC-20261120-0001"]
    assert [i.id for i in store.list_incidents(since=now - timedelta(days=7))] == [
        "INC-20261129-0002",
        "INC-20261129-0001",
    ]
    assert [i.id for i in store.list_incidents(open_only=True, since=now - timedelta(days=7))] == ["INC-20261129-0001"]
    assert len(store.list_incidents(limit=1)) == 1


def test_history_of_a_dag_and_of_a_task_since(store: IncidentDB) -> None:
    now = datetime.now(UTC)
    store.record_opened(incident("INC-20261101-0001"), member("r1", failed_at=now - timedelta(days=40)))
    store.record_opened(incident("INC-20261129-0001"), member("r2", failed_at=now - timedelta(days=1)))
    store.add_member("INC-20261129-0001", member("r2", task_id="transform.fct_orders", failed_at=now))
    store.record_opened(incident("INC-20261129-0002"), member("r3", dag_id="billing", task_id="export_x"))
    assert [i.id for i in store.history("hourly_marts")] == ["INC-20261129-0001", "INC-20261101-0001"]
    assert [i.id for i in store.history("hourly_marts", since=now - timedelta(days=30))] == ["INC-20261129-0001"]
    assert [i.id for i in store.history("hourly_marts", "transform.fct_orders")] == ["INC-20261129-0001"]
    assert [i.id for i in store.history("billing", "export_x")] == ["INC-20261129-0002"]
    assert store.history("no_such_dag") == []


def test_fingerprint_queries(store: IncidentDB) -> None:
    # Given two resolved incidents of one cause, one open with two failures, and one of another cause
    now = datetime.now(UTC)
    store.record_opened(incident("INC-20261101-0001", opened_at=now - timedelta(days=30)), member("a"))
    store.resolve("INC-20261101-0001", "first fix", at=now - timedelta(days=29))
    store.record_opened(incident("INC-20261120-0001", opened_at=now - timedelta(days=10)), member("b"))
    store.resolve("INC-20261120-0001", "second fix", at=now - timedelta(days=9))
    store.record_opened(incident("INC-20261130-0001", opened_at=now - timedelta(hours=1)), member("c"))
    store.add_member("INC-20261130-0001", member("d", failed_at=now))
    store.record_opened(incident("INC-20261130-0002", fingerprint="other"), member("e"))

    found = store.find_open_by_fingerprint("fp-orders")
    assert found is not None and found.id == "INC-20261130-0001"
    assert store.find_open_by_fingerprint("fp-orders", since=now + timedelta(hours=1)) is None
    assert store.find_open_by_fingerprint("never-seen") is None

    assert store.count_seen("fp-orders") == 4
    assert store.count_seen("fp-orders", since=now - timedelta(minutes=1)) == 1
    assert store.count_seen("never-seen") == 0

    last = store.last_resolved("fp-orders")
    assert last is not None and (last.id, last.resolution_note) == ("INC-20261120-0001", "second fix")
    assert store.last_resolved("other") is None


def test_times_are_stored_as_utc_and_read_back_aware(store: IncidentDB) -> None:
    paris = timezone(timedelta(hours=1))
    opened = datetime(2026, 11, 30, 10, 5, 1, 123456, tzinfo=paris)
    store.record_opened(incident(opened_at=opened), member(failed_at=datetime(2026, 11, 30, 9, 5)))  # naive: UTC
    detail = store.get(FIRST)
    assert detail is not None
    assert detail.incident.opened_at == opened and detail.incident.opened_at.tzinfo == UTC
    assert detail.members[0].failed_at == datetime(2026, 11, 30, 9, 5, tzinfo=UTC)


def test_a_member_from_a_trigger_keeps_its_key_and_its_redacted_trigger(store: IncidentDB) -> None:
    trigger = Trigger(
        dag_id="hourly_marts",
        task_id="dbt_build_marts",
        run_id="manual__1",
        try_number=2,
        exception="connection to postgresql://etl:hunter2@db/wh failed",
    )
    store.record_opened(incident(), NewMember.from_trigger(trigger, findings={"log_analyzer": {"status": "ok"}}))
    detail = store.get(FIRST)
    assert detail is not None
    recorded = detail.members[0]
    assert recorded.dedup_key == trigger.dedup_key and recorded.try_number == 2
    assert recorded.trigger is not None and "hunter2" not in str(recorded.trigger)
    assert recorded.findings == {"log_analyzer": {"status": "ok"}}
    assert detail.to_json()["members"][0]["failed_at"] == trigger.failed_at.isoformat()
