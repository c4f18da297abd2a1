"""Show in a terminal what Slack would show: the report's Block Kit, section by section."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from shared.contracts import AnyFinding, FindingStatus, Report, ReportStatus
from shared.slack_format import report_blocks

_BOLD = re.compile(r"\*([^*\n]+)\*")
_STATUS_STYLE = {FindingStatus.OK: "green", FindingStatus.EMPTY: "yellow", FindingStatus.UNAVAILABLE: "red"}


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") in ("section", "header"):
        text = block.get("text") or {}
        return str(text.get("text", ""))
    if block.get("type") == "context":
        return "  ".join(str(e.get("text", "")) for e in block.get("elements", []))
    return ""


def _mrkdwn(line: str) -> Text:
    """Slack's *bold* as terminal bold; everything else verbatim (never parsed as rich markup)."""
    text = Text()
    for i, part in enumerate(_BOLD.split(line)):
        text.append(part, style="bold" if i % 2 else "")
    return text


def report_panel(report: Report) -> Panel:
    """The incident post as a rich Panel (Slack's mrkdwn shown as plain text, entities decoded)."""
    _, blocks = report_blocks(report)
    lines = [html.unescape(_block_text(b)) for b in blocks]
    body = Group(*(_mrkdwn(line) for line in lines if line))
    style = "green" if report.status is ReportStatus.COMPLETE else "yellow"
    return Panel(
        body, title=f"#incidents  {report.incident_id}", subtitle=report.status.value, border_style=style, expand=False
    )


def finding_line(finding: AnyFinding) -> Text:
    line = Text()
    line.append(f"{finding.specialist!s:<15}", style="bold")
    line.append(f"{finding.status.value:<12}", style=_STATUS_STYLE[finding.status])
    line.append(f"{finding.elapsed_ms:>7.1f} ms  ")
    line.append(finding.summary)
    return line


def evidence_lines(report: Report, *, per_finding: int = 5) -> list[Text]:
    """What the specialists' thread replies cite: log lines with line numbers, query ids, manifest paths."""
    out: list[Text] = []
    for finding in report.findings:
        for ev in finding.evidence[:per_finding]:
            source = _relative(ev.source)
            where = f"{source}:{ev.line}" if ev.line is not None else source
            line = Text(f"  {finding.specialist!s:<15}", style="dim")
            line.append(f"{where}  ", style="cyan")
            line.append(ev.text)
            out.append(line)
    return out


def _relative(source: str) -> str:
    """A path under the current directory, shown relative to it (shorter, still exact)."""
    try:
        path = Path(source)
        return str(path.relative_to(Path.cwd())) if path.is_absolute() else source
    except ValueError:
        return source


def print_report(console: Console, report: Report) -> None:
    console.print(report_panel(report))
    lines = evidence_lines(report)
    if lines:
        console.print("In the thread, the evidence:", style="bold")
        for line in lines:
            console.print(line, soft_wrap=True)
