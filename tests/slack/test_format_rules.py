"""Block Kit rules that mutation testing (``make mutate TARGET=slack_format``) found unpinned:
exact cuts, budgets and separators of the pure rendering functions.

Each test names the rule it states; the mutants it kills are listed in mutation/README.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts import FindingStatus, LogFinding, OwnerDetails, OwnerEntry, OwnerFinding, OwnerLine, Report
from shared.slack_format import (
    MARKER,
    MAX_SECTION_CHARS,
    MAX_TOTAL_CHARS,
    fit_blocks,
    fit_sections,
    opening_blocks,
    owner_line,
    report_blocks,
    truncate,
    untrusted_code,
    untrusted_inline_code,
    untrusted_prose,
    update_blocks,
)
from tests.slack import cases


def _sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def _context(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]


def _report(**update: object) -> Report:
    return cases.complete_report().model_copy(update=update)


# ---- truncate -------------------------------------------------------------------------------
def test_truncate_cuts_plain_text_to_exactly_the_limit() -> None:
    assert truncate("abcdefghijklmnopqrstuvwxyz", 18) == "abcde" + MARKER


def test_truncate_never_cuts_an_entity_in_half_and_keeps_a_whole_one() -> None:
    text = "a &amp; b" + "x" * 50
    assert truncate(text, 5 + len(MARKER)) == "a " + MARKER  # "a &am" would show as garbage
    assert truncate(text, 7 + len(MARKER)) == "a &amp;" + MARKER


def test_truncate_never_cuts_a_live_mention_in_half_and_keeps_a_whole_one() -> None:
    text = "<@U0MARIA> and <@U0PRIYA>" + " x" * 20
    assert truncate(text, 21 + len(MARKER)) == "<@U0MARIA> and " + MARKER  # not "<@U0PR"
    assert truncate("<@U0MARIA> and more text" + " y" * 20, 12 + len(MARKER)) == "<@U0MARIA> a" + MARKER


def test_truncate_drops_only_a_trailing_underscore_before_the_marker() -> None:
    assert truncate("ABCX" + "y" * 50, 4 + len(MARKER)) == "ABCX" + MARKER
    assert truncate("ABC_" + "y" * 50, 4 + len(MARKER)) == "ABC" + MARKER


def test_truncate_with_no_room_for_text_returns_the_marker_alone_without_its_space() -> None:
    assert truncate("x" * 40, len(MARKER)) == MARKER.strip()


# ---- budgets ----------------------------------------------------------------------------------
def test_fit_blocks_keeps_fifty_blocks_and_replaces_the_rest_by_a_count() -> None:
    blocks = [{"type": "divider", "n": i} for i in range(52)]
    assert fit_blocks(blocks[:50]) == blocks[:50]
    fitted = fit_blocks(blocks)
    assert len(fitted) == 50 and fitted[:49] == blocks[:49]
    assert fitted[49]["elements"][0]["text"] == "…3 more blocks omitted"


def test_fit_sections_keeps_bodies_that_fit_the_budget_exactly() -> None:
    bodies = ["a" * 20, "b" * 30]
    assert fit_sections(bodies, 50) == bodies


def test_fit_sections_cuts_the_longest_to_the_largest_cap_that_fits() -> None:
    # 100 + 2 x cap <= 302: the cap is 101 (a share of 100 with 2 left over is not the cap yet)
    fitted = fit_sections(["a" * 100, "b" * 300, "c" * 300], 302)
    assert fitted == ["a" * 100, "b" * (101 - len(MARKER)) + MARKER, "c" * (101 - len(MARKER)) + MARKER]


@pytest.mark.parametrize("field", ["root_cause", "impact", "next_action"])
def test_a_huge_section_is_cut_to_exactly_the_section_limit(field: str) -> None:
    _, blocks = report_blocks(_report(**{field: "x" * 5_000}))
    [section] = [s for s in _sections(blocks) if s.endswith(MARKER)]
    assert len(section) == MAX_SECTION_CHARS


def test_a_huge_owner_sentence_without_mentions_is_cut_to_exactly_the_section_limit() -> None:
    _, blocks = report_blocks(_report(owner="x" * 5_000, owner_lines=(), owner_notes=(), findings=()))
    [owner] = [s for s in _sections(blocks) if s.startswith("*OWNER*")]
    assert len(owner) == MAX_SECTION_CHARS


def _long_line(mention: str, n: int) -> OwnerLine:
    models = tuple(f"model_{mention[-3:-1].lower()}_{i}" for i in range(n))
    return OwnerLine(models=models, owner="x@example.com", mention=mention, sources=("manifest:config.meta.owner",))


def test_mentions_cut_off_a_long_owner_section_are_added_back_after_its_body_within_the_limit() -> None:
    lines = (_long_line("<@U0MARIA>", 400), _long_line("<@U0PRIYA>", 400))
    report = _report(owner_lines=lines, owner_notes=(), owner="x", next_action="", rerun_command=None)
    _, blocks = report_blocks(report)
    [owner] = [s for s in _sections(blocks) if s.startswith("*OWNER*")]
    assert owner.startswith("*OWNER*\nmodel_ia_0, model_ia_1")  # the body stays
    assert owner.endswith(MARKER + "\n<@U0MARIA> <@U0PRIYA>")
    assert len(owner) == MAX_SECTION_CHARS


def test_all_block_text_stays_within_the_total_budget_when_every_section_is_huge() -> None:
    report = _report(
        root_cause="r" * 5_000,
        impact="i" * 5_000,
        next_action="n" * 5_000,
        rerun_command=None,
        owner_lines=(_long_line("<@U0MARIA>", 400),),
        owner_notes=(),
    )
    text, blocks = report_blocks(report)
    total = len(blocks[0]["text"]["text"]) + sum(map(len, _sections(blocks))) + sum(map(len, _context(blocks)))
    assert MAX_TOTAL_CHARS - 50 < total <= MAX_TOTAL_CHARS


# ---- content ---------------------------------------------------------------------------------
def test_a_report_label_keeps_only_id_characters_and_at_most_40() -> None:
    _, blocks = report_blocks(_report(incident_id="INC-2024<0501>-0001 x!" + "9" * 40))
    assert blocks[0]["text"]["text"] == ("INC-20240501-0001x" + "9" * 40)[:40] + " · Triage complete"


def test_the_text_after_the_quoted_rerun_command_is_kept() -> None:
    report = _report(next_action="Fix it, then re-run: `dbt build -s x` and watch it.", rerun_command="dbt build -s x")
    _, blocks = report_blocks(report)
    assert _sections(blocks)[3] == "*NEXT ACTION*\nFix it, then re-run: `dbt build -s x` and watch it."


def test_owner_without_lines_or_notes_shows_the_composed_sentence() -> None:
    report = _report(owner="Owner lookup unavailable: timed out after 20 s", owner_lines=(), owner_notes=())
    _, blocks = report_blocks(report)
    assert _sections(blocks)[2] == "*OWNER*\nOwner lookup unavailable: timed out after 20 s"


def test_a_report_without_findings_says_no_specialist_reported() -> None:
    _, blocks = report_blocks(_report(findings=()))
    assert "no specialist reported" in _context(blocks)


@pytest.mark.parametrize(("map_index", "shown"), [(-1, ""), (0, " · map 0"), (3, " · map 3")])
def test_a_mapped_task_shows_its_map_index_including_zero(map_index: int, shown: str) -> None:
    _, blocks = opening_blocks(cases.incident(map_index=map_index))
    assert _sections(blocks)[0].splitlines()[0].endswith(f"*try* 2{shown}")


def test_the_opening_error_line_is_the_exceptions_first_line_cut_to_500() -> None:
    _, blocks = opening_blocks(cases.incident(exception="e" * 600 + "\nsecond line"))
    [error] = [line for line in _sections(blocks)[0].splitlines() if line.startswith("*error*")]
    assert error == "*error* " + "e" * (500 - len(MARKER)) + MARKER


def test_an_owner_line_names_every_source_and_a_mention_ending_in_x_whole() -> None:
    line = OwnerLine(
        models=("fct_orders",), owner="<@U0MAX>", mention="<@U0MAX>", sources=("manifest:config.meta.owner", "yaml")
    )
    assert owner_line(line, live=False) == "fct_orders → user U0MAX (manifest:config.meta.owner, yaml)"
    group = line.model_copy(update={"owner": "<!subteam^S0X>", "mention": "<!subteam^S0X>"})
    assert owner_line(group, live=False) == "fct_orders → user group S0X (manifest:config.meta.owner, yaml)"


def test_the_owner_notifiers_reply_lists_every_owner_line_then_the_models_without_one() -> None:
    details = OwnerDetails(
        owners=(
            cases.owner_entry("<@U0MARIA>", 0),
            cases.owner_entry(None, 1, model="dim_customers"),
            OwnerEntry(model="stg_x", failed_node="stg_x", note="no owner declared for model stg_x"),
        )
    )
    finding = OwnerFinding(status=FindingStatus.OK, summary="owners", details=details)
    _, blocks = update_blocks(finding)
    first, second = (owner_line(line, live=False) for line in details.lines())
    assert _sections(blocks)[0].endswith(f"\n{first}; {second}; no owner declared for model stg_x")


def test_a_specialists_reply_summary_is_cut_to_1500() -> None:
    # each & is escaped to &amp;: 297 of them and 600 x make 2,085 characters, cut among the x
    finding = LogFinding(status=FindingStatus.OK, summary="&" * 297 + "x" * 600)
    _, blocks = update_blocks(finding)
    summary = _sections(blocks)[0].split("\n", 1)[1]
    assert summary == "&amp;" * 297 + "x" * (1_500 - 5 * 297 - len(MARKER)) + MARKER


def test_every_unavailable_specialist_is_named_with_its_summary_cut_to_200() -> None:
    from shared.contracts import Specialist, unavailable

    report = _report(
        findings=(
            unavailable(Specialist.LOG_ANALYZER, "worker died"),
            unavailable(Specialist.QUERY_PROFILER, "t" * 300),
        )
    )
    _, blocks = report_blocks(report)
    [line] = [c for c in _context(blocks) if c.startswith(":warning: unavailable: ")]
    assert line == f":warning: unavailable: log analyzer (worker died); query profiler ({truncate('t' * 300, 200)})"


def test_nothing_to_render_renders_as_nothing() -> None:
    assert untrusted_prose(None) == untrusted_code(None) == untrusted_code("") == ""
    assert untrusted_inline_code(None) == "``"


def test_without_a_rerun_command_every_backtick_in_next_action_stays_prose() -> None:
    _, blocks = report_blocks(_report(next_action="Check the `None` values.", rerun_command=None))
    assert _sections(blocks)[3] == "*NEXT ACTION*\nCheck the \u02cbNone\u02cb values."


def test_a_reply_says_what_was_not_used_and_why_escaped_and_bounded() -> None:
    from shared.contracts import LogDetails
    from shared.slack_format import update_blocks

    notes = (
        "target/run_results.json: written at 2026-11-23 09:22:05 UTC, before this try started: not used",
        "logs/dbt.log: <!channel> this try's log shows no dbt invocation: not used",
        "third",
        "fourth",
    )
    finding = LogFinding(status=FindingStatus.OK, summary="code_error", details=LogDetails(not_used=notes))
    _, blocks = update_blocks(finding)
    [context] = [b for b in blocks if b["type"] == "context" and "Not used" in str(b)]
    text = context["elements"][0]["text"]
    assert text.startswith("Not used:\ntarget/run_results.json: written at 2026-11-23 09:22:05 UTC")
    assert "<!channel>" not in text and "third" in text and "fourth" not in text and text.endswith("+1 more")
    # nothing not used: no such line
    _, blocks = update_blocks(LogFinding(status=FindingStatus.OK, summary="x"))
    assert "Not used" not in str(blocks)
