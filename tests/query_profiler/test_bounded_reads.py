"""Bounded reads: an oversized manifest is a note, not a crash; exports stream; a huge record is refused.

No timing or memory asserts: bench/bounded_reads_bench.py measures peak RSS. Oversized manifests
are sparse files (``truncate``), so no test writes 256 MB.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from query_profiler.lineage import related_models
from query_profiler.profiler import profile_incident
from query_profiler.sources import file_export
from query_profiler.sources.file_export import CHUNK_CHARS, MAX_RECORD_CHARS, FileSource
from shared import dbt_artifacts
from shared.bounded_files import MAX_MANIFEST_BYTES
from shared.contracts import FindingStatus, Incident, Trigger
from shared.errors import SourceError
from shared.settings import Settings
from tests.query_profiler.conftest import BASE_TIME, history_row, incident_rows

MB = 1024 * 1024
REFUSED = "dbt's manifest.json over 256 MB: not read"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _oversized_project(root: Path) -> Path:
    manifest = root / "dbt" / "target" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    with manifest.open("wb") as f:
        f.truncate(MAX_MANIFEST_BYTES + 44 * MB)  # sparse
    return root / "dbt"


def _incident() -> Incident:
    trigger = Trigger(
        dag_id="shop", task_id="dbt_run", run_id="r1", model="fct_orders", failed_at=BASE_TIME + timedelta(minutes=51)
    )
    return Incident(incident_id="INC-20260501-0001", channel="#incidents", trigger=trigger)


# --- the manifest, as query_profiler reads it (lineage; the limit itself: tests/shared) -------------


def test_an_oversized_manifest_is_not_read_and_the_reason_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _oversized_project(tmp_path)

    def no_read(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("an oversized manifest must not be read")

    monkeypatch.setattr(dbt_artifacts, "_read", no_read)
    notes: list[str] = []
    assert related_models(project, "fct_orders", notes=notes) is None
    [note] = notes
    assert note.startswith(REFUSED)
    assert str(project / "target" / "manifest.json") in note and "is 300 MB (limit 256 MB" in note
    assert "time window" in note and "dbt parse" in note


def test_related_models_from_the_bundled_sample() -> None:
    project = Path(__file__).resolve().parents[2] / "samples" / "hourly_marts" / "dbt_project"
    notes: list[str] = []
    assert related_models(project, "fct_orders", notes=notes) == {
        "stg_orders",
        "stg_payments",
        "orders_daily",
        "customer_ltv",
    }
    assert related_models(project, "no_such_model", notes=notes) is None  # not in the manifest: no scope
    assert related_models(project, None, notes=notes) is None
    assert notes == []


def test_a_missing_manifest_is_no_note_and_a_corrupt_one_is(tmp_path: Path) -> None:
    notes: list[str] = []
    assert related_models(tmp_path, "fct_orders", notes=notes) is None
    assert notes == []  # a parse-time dbt failure writes no manifest: nothing to explain
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text('{"nodes": {"model.x.y": ')
    assert related_models(tmp_path, "fct_orders", notes=notes) is None
    assert len(notes) == 1 and notes[0].startswith("dbt's manifest.json not used:")


def _write_history(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps([_jsonable(r) for r in rows]))
    return path


def test_the_profiler_finding_notes_the_refused_manifest_and_falls_back_to_the_window(tmp_path: Path) -> None:
    settings = Settings(
        WAREHOUSE_URL=str(_write_history(tmp_path / "history.json", incident_rows())),
        DBT_PROJECT_DIR=str(_oversized_project(tmp_path)),
    )
    finding = profile_incident(_incident(), settings)
    assert finding.status is FindingStatus.OK
    assert finding.details.scope == "window"
    [note] = finding.details.not_used
    assert str(note).startswith(REFUSED)


def test_an_empty_profiler_finding_says_the_manifest_was_not_read_in_its_summary(tmp_path: Path) -> None:
    quiet = [history_row(QUERY_ID="q-fast", TOTAL_ELAPSED_TIME=120)]
    settings = Settings(
        WAREHOUSE_URL=str(_write_history(tmp_path / "history.json", quiet)),
        DBT_PROJECT_DIR=str(_oversized_project(tmp_path)),
    )
    finding = profile_incident(_incident(), settings)
    assert finding.status is FindingStatus.EMPTY
    assert finding.summary.startswith("no failed or slow queries in file query history")
    assert REFUSED in finding.summary


# --- query exports: every format streams; a record over the limit is refused ------------------------


def _rows(n: int) -> list[dict[str, Any]]:
    # Rows of varying size (up to ~1.5 chunks once escaped), so they start and end all over the chunks.
    return [
        _jsonable(
            history_row(
                QUERY_ID=f"q-{i:06d}",
                QUERY_TEXT=f"select {i} -- " + 'é"\\x' * (i * 37 % (CHUNK_CHARS // 4)),
                TOTAL_ELAPSED_TIME=i * 13,
            )
        )
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict[str, Any]], form: str) -> Path:
    if form == "array":
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    elif form == "wrapped":
        meta = {"exported_by": "test", "padding": "p" * (3 * CHUNK_CHARS), "count": len(rows)}
        path.write_text(json.dumps({"meta": meta, "rows": rows}), encoding="utf-8")
    elif form == "lines":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])
    return path


FORMATS = [("array", "export.json"), ("wrapped", "export.json"), ("lines", "export.jsonl"), ("csv", "export.csv")]


@pytest.mark.parametrize(("form", "name"), FORMATS)
def test_a_multi_megabyte_export_streams_every_row_intact(tmp_path: Path, form: str, name: str) -> None:
    rows = _rows(300)
    path = _write(tmp_path / name, rows, form)
    assert path.stat().st_size > 5 * MB
    read = list(FileSource(path).rows())
    assert [r["QUERY_ID"] for r in read] == [r["QUERY_ID"] for r in rows]
    assert [r["QUERY_TEXT"] for r in read] == [r["QUERY_TEXT"] for r in rows]
    if form != "csv":  # CSV carries text: numbers come back as strings, None as ""
        assert read == rows


def test_every_chunk_boundary_inside_numbers_escapes_and_literals_decodes_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = {"A": 12345678, "B": 'x\u00e9\\"y\U0001f600', "C": True, "D": None, "E": -1.5e10, "F": [1, {"g": "h"}]}
    rows = [row] * 3
    path = tmp_path / "export.json"
    for text in (json.dumps(rows), json.dumps({"meta": {"n": 12345}, "rows": rows}, indent=2)):
        path.write_text(text)
        for chunk in range(1, 24):
            monkeypatch.setattr(file_export, "CHUNK_CHARS", chunk)
            assert list(FileSource(path).rows()) == rows, chunk


def _huge_row(chars: int) -> dict[str, Any]:
    return _jsonable(history_row(QUERY_ID="q-huge", QUERY_TEXT="x" * chars))


@pytest.mark.parametrize(
    ("form", "name", "where"),
    [
        ("array", "export.json", "the JSON row at character "),
        ("wrapped", "export.json", "the JSON row at character "),
        ("lines", "export.jsonl", "the JSON line starting on line 3 "),
        ("csv", "export.csv", "the CSV record starting on line 4 "),  # line 1 is the header
    ],
)
def test_a_record_over_the_limit_is_refused_naming_where_after_the_rows_before_it(
    tmp_path: Path, form: str, name: str, where: str
) -> None:
    rows = [*_rows(2), _huge_row(3 * MAX_RECORD_CHARS), *_rows(2)]
    path = _write(tmp_path / name, rows, form)
    read: list[str] = []
    with pytest.raises(SourceError) as caught:
        for row in FileSource(path).rows():
            read.append(row["QUERY_ID"])
    assert read == ["q-000000", "q-000001"]  # streamed up to the huge record
    message = str(caught.value)
    assert where in message
    assert f"over {MAX_RECORD_CHARS:,} characters" in message and "not read" in message


def test_a_csv_record_over_the_limit_across_quoted_lines_is_refused(tmp_path: Path) -> None:
    line = "y" * (MAX_RECORD_CHARS // 4) + "\n"
    rows = [*_rows(1), _jsonable(history_row(QUERY_ID="q-multi", QUERY_TEXT=line * 5))]
    path = _write(tmp_path / "export.csv", rows, "csv")
    with pytest.raises(SourceError, match="the CSV record starting on line 3 is over"):
        list(FileSource(path).rows())


def test_a_record_just_under_the_limit_is_read(tmp_path: Path) -> None:
    row = _huge_row(MAX_RECORD_CHARS - 2_000)
    for form, name in FORMATS:
        path = _write(tmp_path / name, [row], form)
        assert [r["QUERY_TEXT"] for r in FileSource(path).rows()] == [row["QUERY_TEXT"]], form


def test_a_huge_member_before_the_rows_of_a_wrapped_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"meta": "m" * (2 * MAX_RECORD_CHARS), "rows": _rows(1)}))
    with pytest.raises(SourceError, match="the JSON member 'meta' at character 9 is over"):
        list(FileSource(path).rows())


def test_invalid_json_early_in_a_big_export_is_reported_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('[{"QUERY_ID": "a"}, {"QUERY_ID": nope}, ' + json.dumps(_rows(200))[1:])
    with pytest.raises(SourceError, match="invalid JSON in the row at character 20: Expecting value"):
        list(FileSource(path).rows())
