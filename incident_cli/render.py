"""Show in a terminal what Slack would show: the report's Block Kit, section by section."""

from __future__ import annotations

import html
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from shared.contracts import Finding, FindingStatus, Report, ReportStatus
from shared.slack_format import report_blocks

_STATUS_STYLE = {FindingStatus.OK: "green", FindingStatus.EMPTY: "yellow", FindingStatus.UNAVAILABLE: "red"}


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") in ("section", "header"):
        text = block.get("text") or {}
        return str(text.get("text", ""))
    if block.get("type") == "context":
        return "  ".join(str(e.get("text", "")) for e in block.get("elements", []))
    return ""


def report_panel(report: Report) -> Panel:
    """The incident post as a rich Panel (Slack's mrkdwn shown as plain text, entities decoded)."""
    _, blocks = report_blocks(report)
    lines = [html.unescape(_block_text(b)) for b in blocks]
    body = Group(*(Text(line) for line in lines if line))
    style = "green" if report.status is ReportStatus.COMPLETE else "yellow"
    return Panel(body, title=f"#incidents  {report.incident_id}", subtitle=report.status.value,
                 border_style=style, expand=False)


def finding_line(finding: Finding) -> Text:
    line = Text()
    line.append(f"{finding.specialist.value:<15}", style="bold")
    line.append(f"{finding.status.value:<12}", style=_STATUS_STYLE[finding.status])
    line.append(f"{finding.elapsed_ms:>7.1f} ms  ")
    line.append(finding.summary)
    return line


def print_report(console: Console, report: Report) -> None:
    console.print(report_panel(report))
