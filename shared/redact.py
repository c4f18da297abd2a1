"""Redact secrets from text before it leaves the process (Slack, logs, the broker).

Conservative by design: a false positive hides a harmless token-looking string, a false
negative leaks a credential into a public channel.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

_SECRET_KEY = (r"[\w.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
               r"account[_-]?key|sharedaccesskey|passphrase|authorization|credentials?)[\w.\-]*")
_VALUE = r"(?:'[^'\n]*'|\"[^\"\n]*\"|(?!\[REDACTED\]|Bearer\b|Basic\b)[^\s'\",;&]+)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack incoming webhooks carry their secret in the path
    (re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/\S+"), MASK),
    # user:password@host in URLs; the password may hold '/' or '@' (the last '@' before the host wins)
    (re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>\S+)@(?=[^@\s/]+)"),
     r"\g<scheme>\g<user>:" + MASK + "@"),
    # Authorization: Bearer xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + MASK),
    # SQL: ALTER/CREATE ROLE ... PASSWORD 'x', IDENTIFIED BY 'x'
    (re.compile(r"(?i)\b(password|identified\s+by)\s+('[^'\n]*'|\"[^\"\n]*\")"), r"\1 " + MASK),
    # command-line flags: --password x, --api-token=x
    (re.compile(r"(?i)(?<![\w-])(--?[\w-]*(?:password|passwd|secret|token)[\w-]*)(\s+|=)(?!-)" + _VALUE),
     r"\1\2" + MASK),
    # key=value / key: value / "key": "value" for secret-ish keys; quoted values whole
    (re.compile(r"(?i)\b(?P<key>" + _SECRET_KEY + r")(?P<sep>\s*[=:]\s*|\"\s*:\s*\"?)(?P<val>" + _VALUE + ")"),
     r"\g<key>\g<sep>" + MASK),
    # Slack tokens, GitHub tokens, AWS access key ids, JWTs
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), MASK),
    # PEM private keys
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), MASK),
)


def redact(text: str) -> str:
    """Return ``text`` with credentials replaced by ``[REDACTED]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def truncate(text: str, limit: int, *, marker: str = " …[truncated]") -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def clean(text: str | None, limit: int) -> str | None:
    """Redact then truncate; the form every untrusted string takes before it is sent anywhere."""
    return None if text is None else truncate(redact(text), limit)
