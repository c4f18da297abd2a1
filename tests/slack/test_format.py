"""Escaping, truncation and Block Kit rendering (pure functions), plus golden Block Kit JSON.

Regenerate the golden files after an intended change: ``UPDATE_GOLDEN=1 pytest tests/slack``,
then read ``git diff tests/slack/golden``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import (
    MENTION_PATTERN,
    Evidence,
    FindingStatus,
    OwnerDetails,
    OwnerEntry,
    OwnerFinding,
    QueryFinding,
    Report,
    Specialist,
    unavailable,
)
from shared.slack_format import (
    MARKER,
    MAX_SECTION_CHARS,
    MAX_TOTAL_CHARS,
    escape,
    fit_blocks,
    fit_sections,
    opening_blocks,
    owner_mentions,
    report_blocks,
    truncate,
    untrusted_code,
    untrusted_prose,
    update_blocks,
)
from tests.slack import cases

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        for obj in [block.get("text"), *(block.get("elements") or []), *(block.get("fields") or [])]:
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                texts.append(obj["text"])
    return texts


def raw_markup(text: str) -> list[str]:
    """Every <...> Slack would interpret as markup (a mention, a link, a special command)."""
    return re.findall(r"<[^<>]*>", text)


# ---- escape ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here> <!everyone>", "&lt;!here&gt; &lt;!everyone&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp; stays literal", "&amp;amp; stays literal"),  # the raw text really said "&amp;"
        ("@here @channel @everyone", "@here @channel @everyone"),  # plain text: Slack only mentions via <!...>
        ("\"quotes\" 'and' *bold* `code`", "\"quotes\" 'and' *bold* `code`"),  # nothing else is encoded
        ("", ""),
    ],
)
def test_escape_only_touches_amp_lt_gt(raw: str, expected: str) -> None:
    assert escape(raw) == expected


# ---- truncate -------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [20, 50, 3_000])
def test_truncate_respects_the_limit_and_marks_the_cut(limit: int) -> None:
    text = "x" * (limit * 2)
    cut = truncate(text, limit)
    assert len(cut) <= limit
    assert cut.endswith(MARKER)


@pytest.mark.parametrize("text", ["short", "x" * 40])
def test_truncate_leaves_text_within_the_limit_alone(text: str) -> None:
    assert truncate(text, 40) == text


@pytest.mark.parametrize("limit", range(20, 40))
def test_truncate_never_splits_an_entity(limit: int) -> None:
    cut = truncate(escape("<<<<<<<<<<&&&&&&&&&&>>>>>>>>>>"), limit).removesuffix(MARKER)
    assert re.fullmatch(r"(&lt;|&amp;|&gt;)*", cut)


def test_fit_sections_cuts_the_longest_first_and_keeps_short_ones() -> None:
    bodies = ["a" * 100, "b" * 5_000, "c" * 9_000, "d" * 50]
    fitted = fit_sections(bodies, 6_000)
    assert sum(map(len, fitted)) <= 6_000
    assert fitted[0] == bodies[0] and fitted[3] == bodies[3]
    assert fitted[1].endswith(MARKER) and fitted[2].endswith(MARKER)
    assert len(fitted[1]) == len(fitted[2])  # both cut to the same cap


def test_fit_blocks_keeps_at_most_50() -> None:
    blocks = [{"type": "divider"}] * 80
    fitted = fit_blocks(blocks)
    assert len(fitted) == 50
    assert fitted[-1]["type"] == "context"


# ---- report ---------------------------------------------------------------------------------
def test_report_has_the_four_sections_in_order() -> None:
    _, blocks = report_blocks(cases.complete_report())
    headings = [t.split("\n", 1)[0] for t in section_texts(blocks)]
    assert headings == ["*ROOT CAUSE*", "*IMPACT*", "*OWNER*", "*NEXT ACTION*"]
    assert blocks[0]["type"] == "header"
    assert "INC-20240501-0001" in blocks[0]["text"]["text"]
    assert "complete" in blocks[0]["text"]["text"]


def test_degraded_report_says_so_and_names_the_missing_specialist() -> None:
    text, blocks = report_blocks(cases.degraded_report())
    assert "degraded" in blocks[0]["text"]["text"] and "[degraded]" in text
    context = blocks[-1]["elements"]
    assert any("query profiler (timed out after 20 s)" in e["text"] for e in context)


def test_an_unavailable_specialists_reason_is_escaped_in_the_report() -> None:
    # Given a specialist unavailable for a reason that holds Slack markup (exception text is untrusted)
    reason = "worker lost: <!channel> <@U123> *urgent* & see <https://evil|click>"
    report = cases.degraded_report().model_copy(
        update={"findings": (cases.log_finding(), unavailable(Specialist.QUERY_PROFILER, reason, elapsed_ms=20_000.0))}
    )
    # When the report is rendered
    text, blocks = report_blocks(report)
    # Then the reason is shown in the context line as text: escaped, its delimiters swapped for look-alikes
    [line] = [e["text"] for e in blocks[-1]["elements"] if e["text"].startswith(":warning: unavailable:")]
    assert line == (
        ":warning: unavailable: query profiler (worker lost: &lt;!channel&gt; &lt;@U123&gt; "
        "\u2217urgent\u2217 &amp; see &lt;https://evil|click&gt;)"
    )
    # and nothing in the whole message is live markup but the owner's validated mention
    assert [m for t in [text, *block_texts(blocks)] for m in raw_markup(t)] == ["<@U0MARIA>"]


def test_hostile_text_is_escaped_everywhere_but_our_own_mentions_are_not() -> None:
    text, blocks = report_blocks(cases.hostile_report())
    markup = [m for t in [text, *block_texts(blocks)] for m in raw_markup(t)]
    assert markup == ["<@U0MARIA>"]  # the one validated mention; forged ones and <@U999> are escaped
    owner = next(t for t in block_texts(blocks) if t.startswith("*OWNER*"))
    assert "&lt;@U999&gt;" in owner and "&lt;!channel&gt;" in owner


def _with_owners(*entries: OwnerEntry) -> Report:
    owners = OwnerFinding(status=FindingStatus.OK, summary="owners", details=OwnerDetails(owners=entries))
    return cases.complete_report().model_copy(update={"findings": (owners,), **cases.owner_fields(owners)})


def _owner_section(report: Report) -> str:
    _, blocks = report_blocks(report)
    return next(t for t in block_texts(blocks) if t.startswith("*OWNER*"))


@pytest.mark.parametrize("mention", ["<@U0MARIA>", "<@W0ENTERPRISE>", "<!subteam^S0TEAM>"])
def test_well_formed_mentions_pass(mention: str) -> None:
    assert owner_mentions(_with_owners(cases.owner_entry(mention))) == [mention]


@pytest.mark.parametrize(
    "mention",
    [
        "<!channel>",
        "<!here>",
        "<@U1>\n<!channel>",
        "<@U1><!here>",
        "<@u1>",
        "<!subteam^S1|@team>",
        "<https://evil|click>",
        "U0MARIA",
        "<@U1>x",
    ],
)
def test_a_malformed_mention_cannot_even_be_an_owner_mention(mention: str) -> None:
    with pytest.raises(ValidationError, match="not a Slack user or user-group mention"):
        cases.owner_finding(mention)


def test_no_owner_lines_means_no_mentions() -> None:
    report = cases.complete_report().model_copy(update={"findings": (), "owner_lines": ()})
    assert owner_mentions(report) == [] and raw_markup(_owner_section(report)) == []


@pytest.mark.parametrize("mention", ["<@U0ACCOUNTS>", "<!subteam^S0FINANCE>"])
def test_an_owner_is_live_in_the_owner_section_exactly_once_never_escaped(mention: str) -> None:
    # Given an owner (a user or a user group) of two failed models
    report = _with_owners(cases.owner_entry(mention, model="dim_accounts"), cases.owner_entry(mention, model="fct_x"))
    # When the report is rendered
    owner = _owner_section(report)
    # Then one line names both models, the mention live once in place, never as escaped text
    assert owner == f"*OWNER*\ndim_accounts, fct_x → {mention} (manifest:config.meta.owner)"
    assert "&lt;" not in owner


def test_twelve_owners_are_each_live_once() -> None:
    mentions = [f"<@U0OWNER{i:02d}>" for i in range(12)]
    owner = _owner_section(_with_owners(*(cases.owner_entry(m, i, model=f"m{i}") for i, m in enumerate(mentions))))
    assert raw_markup(owner) == mentions and "&lt;" not in owner


def test_a_cut_never_halves_a_mention_and_adds_it_back_whole() -> None:
    # Given a model name so long that the OWNER section must be cut before the mention
    owner = _owner_section(_with_owners(cases.owner_entry("<@U0MARIA>", model="m" * 5_000)))
    # Then the mention is not cut in half: it is added back, whole and live, once
    assert raw_markup(owner) == ["<@U0MARIA>"] and owner.endswith("\n<@U0MARIA>")
    assert "&lt;" not in owner and "<@U0M" not in owner.replace("<@U0MARIA>", "")


def test_an_unresolved_owner_that_contains_a_mention_stays_text() -> None:
    # Given a resolved owner, and an owner string that embeds the same mention but did not resolve
    forged = OwnerEntry(model="fct_y", failed_node="fct_y", owner="team <@U0MARIA> (backup)", source="schema.yml")
    owner = _owner_section(_with_owners(cases.owner_entry("<@U0MARIA>"), forged))
    # Then only the resolved one is live; the other is escaped text, marked as not pinged
    assert raw_markup(owner) == ["<@U0MARIA>"]
    assert "fct_y → team &lt;@U0MARIA&gt; (backup) (schema.yml, not a Slack mention: not pinged)" in owner


def test_where_nobody_declared_an_owner_follows_the_owner_lines() -> None:
    nobody = OwnerEntry(model="dim_x", failed_node="dim_x", note="no owner declared for model dim_x (looked in: a)")
    owner = _owner_section(_with_owners(cases.owner_entry("<@U0MARIA>"), nobody))
    assert owner.endswith("; no owner declared for model dim_x (looked in: a)")


@pytest.mark.parametrize(
    ("owner", "slack", "shown"),
    [
        ("owner0@example.com", "<@U0ACCOUNTS>", "owner0@example.com"),
        ("<@U0ACCOUNTS>", "<@U0ACCOUNTS>", "user U0ACCOUNTS"),
        ("<!subteam^S0FIN>", "<!subteam^S0FIN>", "user group S0FIN"),
    ],
)
def test_the_owner_notifiers_thread_reply_names_the_owner_without_markup(owner: str, slack: str, shown: str) -> None:
    # The ping just before it in the thread already notified them: the reply must not again
    entry = OwnerEntry(
        model="dim_accounts", failed_node="dim_accounts", owner=owner, source="manifest:config.meta.owner", slack=slack
    )
    finding = OwnerFinding(
        status=FindingStatus.OK,
        summary=f"dim_accounts → {slack} (manifest:config.meta.owner)",
        details=OwnerDetails(owners=(entry,)),
    )
    text, blocks = update_blocks(finding)
    assert f"dim_accounts → {shown} (manifest:config.meta.owner)" in blocks[0]["text"]["text"]
    assert raw_markup(text + json.dumps(block_texts(blocks))) == [] and "&lt;@" not in text


def test_a_huge_report_fits_slack_limits_and_keeps_headings_and_mentions() -> None:
    big = cases.complete_report().model_copy(
        update={
            "root_cause": "r<" * 20_000,
            "impact": "i" * 9_000,
            "owner_notes": ("o" * 50_000,),
            "next_action": "n" * 100,
        }
    )
    text, blocks = report_blocks(big)
    texts = block_texts(blocks)
    assert len(blocks) <= 50
    assert all(len(t) <= MAX_SECTION_CHARS for t in texts)
    assert sum(map(len, texts)) <= MAX_TOTAL_CHARS
    assert len(text) <= 1_000
    sections = section_texts(blocks)
    assert [s.split("\n", 1)[0] for s in sections] == ["*ROOT CAUSE*", "*IMPACT*", "*OWNER*", "*NEXT ACTION*"]
    assert sections[3] == "*NEXT ACTION*\n" + "n" * 100  # the short section is not cut
    assert raw_markup(sections[2]) == ["<@U0MARIA>", "<!subteam^S0ANALYTICS>"]


def test_secrets_in_untrusted_text_are_redacted() -> None:
    report = cases.complete_report().model_copy(
        update={"root_cause": "connect failed: postgres://etl:hunter2@db.internal/analytics"}
    )
    text, blocks = report_blocks(report)
    assert "hunter2" not in json.dumps([text, blocks])


# ---- thread update --------------------------------------------------------------------------
def test_update_keeps_the_code_block_intact_and_shows_five_evidence_lines() -> None:
    text, blocks = update_blocks(cases.hostile_finding())
    code = blocks[1]["text"]["text"]
    assert code.startswith("```\n") and code.endswith("\n```")
    assert code.count("```") == 2  # the ``` inside the evidence cannot close the block early
    assert code.count("\n") == 5 + 1  # five one-line items between the fences
    assert "task.log:1  line 1:" in code
    assert blocks[2]["elements"][0]["text"] == "+2 more evidence lines not shown"
    assert raw_markup(text + json.dumps(block_texts(blocks))) == []


@pytest.mark.parametrize("status", list(FindingStatus))
def test_update_names_the_specialist_and_status(status: FindingStatus) -> None:
    finding = QueryFinding(
        status=status, summary="s", elapsed_ms=7, evidence=(Evidence(source="query_history", text="select 1"),)
    )
    text, blocks = update_blocks(finding)
    assert text.startswith(f"Query profiler: {status.value}")
    assert f"*Query profiler* · {status.value} · 7 ms" in blocks[0]["text"]["text"]
    assert "query_history  select 1" in blocks[1]["text"]["text"]  # no line number: the source alone


# ---- opening --------------------------------------------------------------------------------
def test_opening_is_a_placeholder_naming_the_failure() -> None:
    text, blocks = opening_blocks(cases.incident())
    assert blocks[0]["text"]["text"] == "INC-20240501-0001 · Triage in progress"
    body = blocks[1]["text"]["text"]
    assert "daily_orders" in body and "dbt_run_orders" in body and "*try* 2" in body
    assert text.startswith("INC-20240501-0001: triage in progress for daily_orders.dbt_run_orders")


# ---- untrusted text cannot format itself -----------------------------------------------------
# Our own markup: the headings and labels we write, and validated mentions. Everything else is untrusted.
OWN_MARKUP = re.compile(
    r"\*(?:ROOT CAUSE|IMPACT|OWNER|NEXT ACTION|dag|task|run|try|model|error|"
    r"Log analyzer|Query profiler|Owner notifier)\*|" + MENTION_PATTERN.pattern
)
CODE_BLOCK = re.compile(r"```\n(.*?)\n```", re.S)
# dag, task and run ids are shown as inline code after our labels (copyable, never formatted).
INLINE_ID = re.compile(r"(\*(?:dag|task|run)\* |\(run )`([^`\n]*)`")
# What Slack could take as formatting: an opening delimiter after a non-letter, then a closing one
# (Slack closes even before a letter: "_italic_regular"), or a block quote opening a line.
FORMATTING_PAIR = re.compile(r"(?<![A-Za-z0-9])([*_~`])(?=\S)[^\n]*?(?<=\S)\1")
STRAY_DELIMITER = re.compile(r"[*~`]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
LINE_QUOTE = re.compile(r"^[ \t]*(?:>|&gt;)", re.M)

ATTACKS = (
    *cases.FORMATTING_ATTACKS,
    "> quoted\n>>> the rest",
    "`````five`````",
    "_tmp_ __init__ x_ x__y",
    "a*b*c ~/.dbt ~x~y",
    "_italic_regular",
    "café_x_",
    cases.FORMATTING,
)
ENTRY_POINTS: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
    "opening": lambda attack: opening_blocks(cases.formatting_incident(attack)),
    "report": lambda attack: report_blocks(cases.formatting_report(attack)),
    "update": lambda attack: update_blocks(cases.formatting_finding(attack)),
}


def prose_and_code(text: str, blocks: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The fallback text and every block text, split into mrkdwn prose and code block contents."""
    prose: list[str] = []
    code: list[str] = []
    for t in [text, *block_texts(blocks)]:
        code.extend(CODE_BLOCK.findall(t))
        code.extend(m.group(2) for m in INLINE_ID.finditer(t))
        prose.append(INLINE_ID.sub(r"\1", CODE_BLOCK.sub("", t)))
    return prose, code


def live_formatting(prose: str) -> list[str]:
    """Whatever in ``prose`` (our own markup aside) Slack could render as formatting or markup."""
    rest = OWN_MARKUP.sub(" ", prose)
    return (
        [m.group(0) for m in FORMATTING_PAIR.finditer(rest)]
        + STRAY_DELIMITER.findall(rest)
        + LINE_QUOTE.findall(rest)
        + raw_markup(rest)
    )


@pytest.mark.parametrize(
    "attack", ["*bold*", "_x_", "~x~", "`x`", "```x```", "<!channel>", "> quote", "_italic_regular"]
)
def test_the_checker_sees_what_slack_would_format(attack: str) -> None:
    assert live_formatting(attack)  # the checks below are not vacuous


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_untrusted_prose_never_forms_formatting_or_markup(entry: str, attack: str) -> None:
    text, blocks = ENTRY_POINTS[entry](attack)
    prose, _ = prose_and_code(text, blocks)
    assert {p: live_formatting(p) for p in prose if live_formatting(p)} == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("*bold*", "\u2217bold\u2217"),
        ("~x~ ~/.dbt", "\u223cx\u223c \u223c/.dbt"),
        ("`x` ```x```", "\u02cbx\u02cb \u02cb\u02cb\u02cbx\u02cb\u02cb\u02cb"),
        ("_x_ _tmp_", "\u02cdx\u02cd \u02cdtmp\u02cd"),
        ("fct_orders dag_id 2024_05_01 a_b_c", "fct_orders dag_id 2024_05_01 a_b_c"),  # between letters: kept
        ("__init__ x__y end_", "\u02cd\u02cdinit\u02cd\u02cd x\u02cd\u02cdy end\u02cd"),  # '_' is not a letter
        ("café_x", "café\u02cdx"),  # only ASCII letters and digits count
        ("> quoted\n  >>> rest\na > b", "\u203a quoted\n  \u203a&gt;&gt; rest\na &gt; b"),
        (
            "<!channel> <@U123> <https://evil|click> & @here",
            "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt; &amp; @here",
        ),
        ("", ""),
    ],
)
def test_untrusted_prose_swaps_delimiters_for_look_alikes(raw: str, expected: str) -> None:
    assert untrusted_prose(raw) == expected


@pytest.mark.parametrize("attack", ATTACKS)
def test_evidence_in_a_code_block_keeps_its_characters_verbatim(attack: str) -> None:
    _, blocks = update_blocks(cases.formatting_finding(attack))
    code = blocks[1]["text"]["text"]
    assert code.startswith("```\n") and code.endswith("\n```") and code.count("```") == 2
    flat = " ".join(f"ERROR {attack}".split())
    # only the escaping, and a zero-width space between adjacent backticks
    assert CODE_BLOCK.findall(code) == [untrusted_code(f"task.log:7  {flat}")]
    assert CODE_BLOCK.findall(code)[0].replace("\u200b", "") == escape(f"task.log:7  {flat}")


def test_evidence_keeps_the_formatting_characters_that_prose_replaces() -> None:
    text, blocks = update_blocks(cases.formatting_finding())
    prose, code = prose_and_code(text, blocks)
    assert code == [
        "task.log:7  ERROR see *bold* _x_ ~x~ `x` `\u200b`\u200b`x`\u200b`\u200b` &lt;!channel&gt; "
        "&lt;@U123&gt; &lt;https://evil|click&gt; &amp; in fct_orders and _tmp_"
    ]
    looks_alike = "\u2217bold\u2217 \u02cdx\u02cd \u223cx\u223c \u02cbx\u02cb"
    assert looks_alike in prose[0] and looks_alike in prose[1]  # the fallback text and the summary


@pytest.mark.parametrize("run", range(2, 10))
def test_untrusted_code_parts_every_run_of_backticks(run: int) -> None:
    code = untrusted_code("a" + "`" * run + "b")
    assert "``" not in code  # so no run can close the block (replacing ``` alone left one in five)
    assert code.replace("\u200b", "") == "a" + "`" * run + "b"


def test_our_headings_labels_and_validated_mentions_stay_live() -> None:
    text, blocks = report_blocks(cases.formatting_report())
    sections = section_texts(blocks)
    assert [s.split("\n", 1)[0] for s in sections] == ["*ROOT CAUSE*", "*IMPACT*", "*OWNER*", "*NEXT ACTION*"]
    assert " → <@U0MARIA> (" in sections[2]  # live, in its owner line
    assert [m for t in [text, *block_texts(blocks)] for m in raw_markup(t)] == ["<@U0MARIA>"]
    where = blocks[-1]["elements"][0]["text"]
    assert re.fullmatch(r"\*dag\* \S+ · \*task\* \S+ · \*run\* .+ · \*try\* 2", where)
    _, opening = opening_blocks(cases.formatting_incident())
    lines = opening[1]["text"]["text"].split("\n")
    assert [line.split(" ", 1)[0] for line in lines] == ["*dag*", "*model*", "*error*"]
    _, update = update_blocks(cases.formatting_finding())
    assert update[0]["text"]["text"].startswith(":white_check_mark: *Log analyzer* · ok · 12 ms\n")


@pytest.mark.parametrize(
    ("dag_id", "task_id", "shown"),
    [
        ("daily_orders", "dbt_run_orders", "daily_orders.dbt_run_orders"),  # readable, copyable
        ("_tmp_", "__init__", "\u02cdtmp\u02cd.\u02cd\u02cdinit\u02cd\u02cd"),  # could italicise: replaced
    ],
)
def test_airflow_ids_keep_inner_underscores_and_lose_italic_ones(dag_id: str, task_id: str, shown: str) -> None:
    text, blocks = opening_blocks(cases.incident(dag_id=dag_id, task_id=task_id))
    assert f"*dag* `{dag_id}` · *task* `{task_id}` · " in blocks[1]["text"]["text"]
    assert f"triage in progress for {shown} " in text
    report = cases.complete_report().model_copy(update={"trigger": cases.trigger(dag_id=dag_id, task_id=task_id)})
    text, blocks = report_blocks(report)
    assert f" {shown}: " in text
    assert blocks[-1]["elements"][0]["text"].startswith(f"*dag* `{dag_id}` · *task* `{task_id}` · ")


@pytest.mark.parametrize("limit", range(20, 60))
def test_truncation_never_ends_on_an_underscore_or_inside_an_entity(limit: int) -> None:
    cut = truncate(untrusted_prose("ab_cd&ef_gh<i_" * 10), limit)
    assert len(cut) <= limit
    kept = cut.removesuffix(MARKER)
    assert not kept.endswith("_") and not re.search(r"&[a-z]*$", kept)
    assert live_formatting(cut) == []


@pytest.mark.parametrize("render", [untrusted_prose, untrusted_code])
def test_both_renderings_redact_secrets(render: Callable[[str], str]) -> None:
    assert "hunter2" not in render("connect failed: postgres://etl:hunter2@db.internal/analytics")


# ---- golden Block Kit -----------------------------------------------------------------------
GOLDEN: dict[str, Callable[[], tuple[str, list[dict[str, Any]]]]] = {
    "report_complete": lambda: report_blocks(cases.complete_report()),
    "report_degraded": lambda: report_blocks(cases.degraded_report()),
    "report_hostile": lambda: report_blocks(cases.hostile_report()),
    "update_hostile": lambda: update_blocks(cases.hostile_finding()),
    "opening": lambda: opening_blocks(cases.incident(exception=cases.HOSTILE)),
    "report_formatting": lambda: report_blocks(cases.formatting_report()),
    "update_formatting": lambda: update_blocks(cases.formatting_finding()),
    "opening_formatting": lambda: opening_blocks(cases.formatting_incident()),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_block_kit(name: str) -> None:
    text, blocks = GOLDEN[name]()
    rendered = {"text": text, "blocks": blocks}
    path = GOLDEN_DIR / f"{name}.json"
    if UPDATE_GOLDEN:
        path.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run UPDATE_GOLDEN=1 pytest tests/slack"
    assert rendered == json.loads(path.read_text(encoding="utf-8"))


def test_the_rerun_command_the_composer_quoted_stays_live_code_and_the_rest_stays_prose() -> None:
    command = "airflow tasks clear daily_orders -t '^dbt_run_orders$' -y"
    report = cases.complete_report().model_copy(
        update={"next_action": f"Fix *this* first. Then re-run: `{command}`", "rerun_command": command}
    )
    _, blocks = report_blocks(report)
    body = next(b["text"]["text"] for b in blocks if "NEXT ACTION" in str(b))
    assert f"`{command}`" in body  # shown as code, copyable
    assert "*this*" not in body and "\u2217this\u2217" in body  # the prose around it cannot format itself
