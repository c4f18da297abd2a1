"""Block Kit rendering of incidents, reports and findings: pure functions, no I/O.

Trust boundary: every string that came from outside (log lines, exception text, run ids, dag and
task ids, model names, query text, the composed report's prose, specialists' summaries) is
rendered through exactly one of two functions, chosen by where it lands:

* ``untrusted_prose`` for mrkdwn outside a code block (section and context text, and the
  ``text`` fallback, which Slack also reads as mrkdwn). Redacted, then every character that
  could form Slack formatting is swapped for a look-alike, then ``escape``d.
* ``untrusted_code`` for lines inside a ``` block (evidence), where Slack applies no formatting:
  redacted, ``escape``d, and no run of backticks can close the block. Every other character is
  kept verbatim, so a log line still shows ``*``, ``_`` and ``~`` exactly as it was written.

Slack mrkdwn has no escape character (a backslash stays visible and escapes nothing), and a
zero-width space next to a delimiter is known to *enable* mid-word formatting, so prose never
relies on one. The prose mapping, applied to the redacted text before escaping:

=======================  =====================================  ====================================
character                when                                   becomes
=======================  =====================================  ====================================
``*`` (bold)             always                                 U+2217 ``∗`` ASTERISK OPERATOR
``~`` (strike)           always                                 U+223C ``∼`` TILDE OPERATOR
backtick (code, fence)   always                                 U+02CB ``ˋ`` MODIFIER LETTER GRAVE
``_`` (italic)           unless both neighbours are ASCII       U+02CD ``ˍ`` MODIFIER LETTER LOW
                         letters or digits                      MACRON
``>`` (block quote)      first non-blank character of a line    U+203A ``›`` SINGLE RIGHT-POINTING
                                                                ANGLE QUOTATION MARK
=======================  =====================================  ====================================

So ``fct_orders`` and ``dag_id`` stay as they are (readable and copyable), while ``_tmp_`` becomes
``ˍtmpˍ`` and ``scheduled__2024…`` becomes ``scheduledˍˍ2024…`` (``_`` is not a letter: the
second ``_`` follows one). Italics open only at a ``_`` with no letter or digit before it; every
such ``_`` is replaced and we write none ourselves, so a kept ``_`` has nothing to close (Slack
does close before a letter: ``_italic_regular``). The text's ends count as boundaries, so a
fragment is safe wherever it is placed; ASCII rather than Unicode letters, so ``café_x`` loses
its ``_`` too (whatever Slack takes for a letter, it is not looser than ASCII). With no backtick
left, prose needs no fence defusing. Not formatting, and left alone: emoji codes (``:fire:``),
bare URLs (Slack links them, we never unfurl), and "@here" as plain text (see ``escape``).

The only markup left live is what we build ourselves: the section headings and labels
(``*ROOT CAUSE*``, ``*dag*``), and the owners' Slack mentions (``Report.owner_lines``, each a
typed ``SlackMention`` that fullmatches ``MENTION_PATTERN``). The OWNER section is rendered from
those lines, one per owner, so each mention is live exactly once (and added back at the end if a
cut removed it); the owner notifier's own thread reply renders the same lines with the owner as
declared, since the ping just before it already notified them.

Size limits (slack-sdk's Block Kit validators and Slack's "Blocks" reference): section text
<= 3000, at most 50 blocks, header text <= 150; and under ~12,000 characters of block text in
all (slackapi/bolt-js #2509 got ``msg_blocks_too_long`` near 13k, below the documented limits).
Over budget, the longest sections are cut first and the headings stay.
"""

from __future__ import annotations

import re
from typing import Any

from shared.contracts import (
    MENTION_PATTERN,
    AnyFinding,
    Evidence,
    FindingStatus,
    Incident,
    LogFinding,
    OwnerFinding,
    OwnerLine,
    QueryFinding,
    Report,
    ReportStatus,
)
from shared.redact import redact
from shared.specialists import SPECIALISTS

Block = dict[str, Any]

MAX_SECTION_CHARS = 3_000
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_TOTAL_CHARS = 12_000
MAX_NOT_USED = 3  # lines of "not used" under a specialist's reply
MAX_NOT_USED_CHARS = 300
MAX_FALLBACK_CHARS = 600  # the notification text; Slack allows 40k, a push shows a line or two
MAX_EVIDENCE_LINES = 5
MAX_EVIDENCE_LINE_CHARS = 400
MARKER = " …[truncated]"

_STATUS_ICONS = {
    FindingStatus.OK: ":white_check_mark:",
    FindingStatus.EMPTY: ":white_circle:",
    FindingStatus.UNAVAILABLE: ":warning:",
}
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` (Slack's whole rule; nothing else is HTML-encoded).

    This neutralises ``<!channel>``, ``<!here>``, ``<@U…>`` and ``<url|text>``. A bare
    "@channel", "@here" or "@everyone" needs nothing: Slack only mentions through ``<!…>``
    markup (we never send ``link_names``), so as plain text it stays plain text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, *, marker: str = MARKER) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker``.

    Never cuts inside an entity (``&amp;``, ``&lt;``): a half entity would show as garbage. Never
    ends the kept part on ``_``: prose keeps a ``_`` only between two letters or digits, and one
    left before the marker's space could close italics.
    """
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker.strip()[:limit]
    cut = text[: limit - len(marker)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    live = cut.rfind("<")  # escaped text has no '<': this opens a live mention, never cut in half
    if live != -1 and ">" not in cut[live:]:
        cut = cut[:live]
    return cut.rstrip("_") + marker


# Prose look-alikes (see the module docstring); the code rendering keeps the originals.
_PROSE_ALWAYS = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
_ITALIC_UNDERSCORE = "\u02cd"
_QUOTE_MARK = "\u203a"
# A '_' that is not between two ASCII letters or digits (the text's ends count as boundaries).
_BOUNDARY_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# A '>' opening a line (after blanks) makes a block quote: ">" and ">>>" alike.
_LINE_QUOTE = re.compile(r"(^|[\r\n])([ \t]*)>")
_ADJACENT_BACKTICK = re.compile(r"`(?=`)")


def untrusted_prose(text: str | None) -> str:
    """Untrusted text for mrkdwn outside code: redacted, unable to format itself, escaped.

    ``*``, ``~`` and backticks become look-alikes, ``_`` does where it could open or close
    italics, a line-leading ``>`` does too; then ``&``, ``<``, ``>`` are escaped.
    """
    plain = redact(text or "").translate(_PROSE_ALWAYS)
    plain = _BOUNDARY_UNDERSCORE.sub(_ITALIC_UNDERSCORE, plain)
    plain = _LINE_QUOTE.sub(lambda m: m.group(1) + m.group(2) + _QUOTE_MARK, plain)
    return escape(plain)


def untrusted_code(text: str | None) -> str:
    """Untrusted text for inside a ``` block: redacted, escaped, and unable to close the block.

    Slack applies no formatting inside a code block, so ``*``, ``_``, ``~`` and single
    backticks stay as they are; only two adjacent backticks are parted (see ``_defuse_fences``).
    """
    return _defuse_fences(escape(redact(text or "")))


def untrusted_inline_code(text: str | None) -> str:
    """An untrusted identifier (dag, task and run ids) as inline code: shown exactly, copyable.

    Slack formats nothing inside `…`; only a backtick could close it, so it becomes ``ˋ``.
    """
    return "`" + escape(redact(text or "")).replace("`", "\u02cb") + "`"


def _defuse_fences(text: str) -> str:
    """No run of backticks can open or close a code block: a zero-width space parts adjacent ones.

    Every adjacent pair, not every ```: replacing ``` alone leaves ``` in a run of five. Only
    inside code, where Slack formats nothing, so the zero-width space cannot enable formatting.
    """
    return _ADJACENT_BACKTICK.sub("`\u200b", text)


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_CHARS), "emoji": True}}


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, MAX_SECTION_CHARS)}}


def _context(*parts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(p, MAX_SECTION_CHARS)} for p in parts[:10]],
    }


def _incident_label(incident_id: str) -> str:
    return _ID_CHARS.sub("", incident_id)[:40]  # header text is plain_text: keep it to id characters


def _where(report_or_incident: Report | Incident) -> str:
    trigger = report_or_incident.trigger
    mapped = f" · map {trigger.map_index}" if trigger.map_index >= 0 else ""
    return (
        f"*dag* {untrusted_inline_code(trigger.dag_id)} · *task* {untrusted_inline_code(trigger.task_id)} · "
        f"*run* {untrusted_inline_code(trigger.run_id)} · *try* {trigger.try_number}{mapped}"
    )


def _dotted(report_or_incident: Report | Incident) -> str:
    """``dag_id.task_id`` for the fallback text (mrkdwn too): a ``_`` at either id's edge is replaced."""
    trigger = report_or_incident.trigger
    return f"{untrusted_prose(trigger.dag_id)}.{untrusted_prose(trigger.task_id)}"


def fit_blocks(blocks: list[Block], *, max_blocks: int = MAX_BLOCKS) -> list[Block]:
    """At most ``max_blocks``: the rest is replaced by a context block saying how many were cut."""
    if len(blocks) <= max_blocks:
        return blocks
    dropped = len(blocks) - (max_blocks - 1)
    return [*blocks[: max_blocks - 1], _context(f"…{dropped} more blocks omitted")]


def fit_sections(bodies: list[str], budget: int) -> list[str]:
    """Cut the longest bodies first until they fit ``budget`` characters in all.

    Water-filling: find the largest cap such that sum(min(len, cap)) <= budget, then cut each
    body longer than the cap down to it (with a marker). Short bodies are untouched.
    """
    if sum(map(len, bodies)) <= budget:
        return bodies
    lengths = sorted(len(b) for b in bodies)
    remaining, cap = budget, 0
    for i, length in enumerate(lengths):
        share = remaining // (len(lengths) - i)
        if length > share:
            cap = share
            break
        remaining -= length
    return [b if len(b) <= cap else truncate(b, max(cap, len(MARKER))) for b in bodies]


def opening_blocks(incident: Incident) -> tuple[str, list[Block]]:
    """The placeholder top-level message, replaced in place by the report."""
    trigger = incident.trigger
    label = _incident_label(incident.incident_id)
    lines = [_where(incident)]
    if trigger.model:
        lines.append(f"*model* {untrusted_prose(trigger.model)}")
    if trigger.exception:
        first_line = trigger.exception.strip().splitlines()[0] if trigger.exception.strip() else ""
        lines.append(f"*error* {truncate(untrusted_prose(first_line), 500)}")
    blocks = [
        _header(f"{label} · Triage in progress"),
        _section("\n".join(lines)),
        _context(
            f"{label} · {_looking()} looking; their findings arrive in this thread and this message becomes the report."
        ),
    ]
    text = truncate(
        f"{label}: triage in progress for {_dotted(incident)} (run {untrusted_inline_code(trigger.run_id)})",
        MAX_FALLBACK_CHARS,
    )
    return text, blocks


def _looking() -> str:
    """ "log analyzer, query profiler and owner notifier are", from the registry."""
    labels = [spec.label.lower() for spec in SPECIALISTS]
    if len(labels) == 1:
        return f"{labels[0]} is"
    return f"{', '.join(labels[:-1])} and {labels[-1]} are"


def owner_mentions(report: Report) -> list[str]:
    """The report's owner mentions (typed ``SlackMention``s of its owner lines), each once."""
    return list(report.mentions)


def owner_line(line: OwnerLine, *, live: bool) -> str:
    """One owner line as mrkdwn: ``fct_orders → <@U0MARIA> (manifest:config.meta.owner)``.

    ``live``: the mention is inserted as is (the report's OWNER section). Otherwise the owner is
    shown as declared, or as "user U…" when it was declared as a mention: the owner notifier's
    own thread reply, where the ping just before it already notified them.
    """
    if line.mention and live:
        who = line.mention
    elif line.mention and MENTION_PATTERN.fullmatch(line.owner):
        who = untrusted_prose(_mention_label(line.mention))
    else:
        who = untrusted_prose(line.owner)
    sources = untrusted_prose(", ".join(line.sources) + ("" if line.mention else line.NOT_PINGED))
    return f"{untrusted_prose(', '.join(line.models))} → {who} ({sources})"


def _mention_label(mention: str) -> str:
    inner = mention.strip("<>@!")
    return f"user group {inner.removeprefix('subteam^')}" if inner.startswith("subteam^") else f"user {inner}"


def _owner_body(report: Report) -> str:
    """OWNER: the owner lines, each mention live once, then where nobody declared an owner; else
    the composed sentence (owner lookup unavailable, no owner found)."""
    if not report.owner_lines and not report.owner_notes:
        return untrusted_prose(report.owner)
    lines = [owner_line(line, live=True) for line in report.owner_lines]
    return "; ".join(lines + [untrusted_prose(note) for note in report.owner_notes])


def _finding_summary(finding: AnyFinding) -> str:
    """A finding's summary as prose; the owner notifier's from its lines, mentions not live."""
    if isinstance(finding, OwnerFinding) and finding.status is FindingStatus.OK:
        lines = [owner_line(line, live=False) for line in finding.details.lines()]
        return "; ".join(lines + [untrusted_prose(note) for note in finding.details.no_owner])
    return untrusted_prose(finding.summary)


def _next_action(report: Report) -> str:
    """NEXT ACTION as prose, except the re-run command the composer quoted in it: that stays code."""
    command = report.rerun_command
    before, quoted, after = report.next_action.partition(f"`{command}`") if command else ("", "", "")
    if not quoted:
        return untrusted_prose(report.next_action)
    return untrusted_prose(before) + untrusted_inline_code(command) + untrusted_prose(after)


def report_blocks(report: Report) -> tuple[str, list[Block]]:
    """The final report that replaces the placeholder: ROOT CAUSE / IMPACT / OWNER / NEXT ACTION."""
    label = _incident_label(report.incident_id)
    degraded = report.status is ReportStatus.DEGRADED
    title = f"{label} · Triage {'degraded' if degraded else 'complete'}"
    mentions = owner_mentions(report)
    # The mentions are never lost to a cut: room is kept to add back any that a cut removed.
    reserved = [0, 0, len(" ".join(mentions)) + 1 if mentions else 0, 0]
    headings = ["*ROOT CAUSE*\n", "*IMPACT*\n", "*OWNER*\n", "*NEXT ACTION*\n"]
    bodies = [
        untrusted_prose(report.root_cause),
        untrusted_prose(report.impact),
        _owner_body(report),
        _next_action(report),
    ]
    bodies = [truncate(b, MAX_SECTION_CHARS - len(h) - r) for h, b, r in zip(headings, bodies, reserved, strict=True)]

    context_parts = [_where(report), _timings(report.findings)]
    unavailable = [f for f in report.findings if f.status is FindingStatus.UNAVAILABLE]
    if unavailable:
        context_parts.append(
            ":warning: unavailable: "
            + "; ".join(
                f"{SPECIALISTS.label(f.specialist).lower()} ({truncate(untrusted_prose(f.summary), 200)})"
                for f in unavailable
            )
        )
    fixed = len(title) + sum(map(len, headings)) + sum(reserved) + sum(map(len, context_parts))
    bodies = fit_sections(bodies, MAX_TOTAL_CHARS - fixed)
    cut_off = " ".join(m for m in mentions if m not in bodies[2])
    if cut_off:
        bodies[2] = f"{bodies[2]}\n{cut_off}" if bodies[2] else cut_off

    blocks = [
        _header(title),
        *(_section(h + b) for h, b in zip(headings, bodies, strict=True)),
        {"type": "divider"},
        _context(*context_parts),
    ]
    text = truncate(
        f"{label} [{'degraded' if degraded else 'complete'}] {_dotted(report)}: {untrusted_prose(report.root_cause)}",
        MAX_FALLBACK_CHARS,
    )
    return text, fit_blocks(blocks)


def _timings(findings: tuple[AnyFinding, ...]) -> str:
    if not findings:
        return "no specialist reported"
    return " · ".join(
        f"{SPECIALISTS.label(f.specialist).lower()} {f.status.value} {f.elapsed_ms:.0f} ms" for f in findings
    )


def _not_used(finding: AnyFinding) -> tuple[str, ...]:
    if isinstance(finding, LogFinding | QueryFinding):
        return tuple(finding.details.not_used)
    return ()


def _evidence_line(evidence: Evidence) -> str:
    where = f"{evidence.source}:{evidence.line}" if evidence.line is not None else evidence.source
    flat = " ".join(evidence.text.split())  # one line per item: newlines would break the layout
    return truncate(untrusted_code(f"{where}  {flat}"), MAX_EVIDENCE_LINE_CHARS)


def update_blocks(finding: AnyFinding) -> tuple[str, list[Block]]:
    """The short thread reply a specialist posts when it finishes."""
    label = SPECIALISTS.label(finding.specialist)
    icon = _STATUS_ICONS[finding.status]
    summary = truncate(_finding_summary(finding), 1_500)
    blocks = [_section(f"{icon} *{label}* · {finding.status.value} · {finding.elapsed_ms:.0f} ms\n{summary}")]
    shown = finding.evidence[:MAX_EVIDENCE_LINES]
    if shown:
        body = "\n".join(_evidence_line(e) for e in shown)
        blocks.append(_section("```\n" + body + "\n```"))
    if len(finding.evidence) > len(shown):
        blocks.append(_context(f"+{len(finding.evidence) - len(shown)} more evidence lines not shown"))
    not_used = _not_used(finding)
    if not_used:  # what was there and not used as evidence, and why (another run's artifacts, ...)
        shown_notes = "\n".join(truncate(untrusted_prose(n), MAX_NOT_USED_CHARS) for n in not_used[:MAX_NOT_USED])
        more = f"\n+{len(not_used) - MAX_NOT_USED} more" if len(not_used) > MAX_NOT_USED else ""
        blocks.append(_context(f"Not used:\n{shown_notes}{more}"))
    text = truncate(f"{label}: {finding.status.value}: {summary}", MAX_FALLBACK_CHARS)
    return text, blocks
