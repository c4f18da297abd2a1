"""Redact secrets from text before it leaves the process (Slack, logs, the broker).

Conservative by design: a false positive hides a harmless token-looking string, a false
negative leaks a credential into a public channel.

Each entry of ``RULES`` is one family of credential: a name, a compiled pattern, what replaces a
match, and hints; a comment above it names the vendor format it follows. ``tests/redaction_cases.py``
holds the real-world shapes every rule must catch and the look-alikes (ids, digests, log lines) it
must leave alone.

Properties every rule keeps, checked by the tests:

* context is kept: only the secret becomes ``[REDACTED]``; key names, user names, hosts and the
  auth scheme stay (``password=[REDACTED]``, ``postgresql://etl:[REDACTED]@db:5432/x``);
* ``redact`` is idempotent: no pattern matches inside ``[REDACTED]`` or changes text it produced;
* linear time: every repetition stops at a delimiter or is bounded, and a pattern cannot start
  inside a run of its own characters (a look-behind forbids it), so ``"a" * 200_000`` is scanned
  once, not once per position;
* hints only save time: a rule runs when one of its hints (lower-case strings every match
  contains) occurs in the case-folded text, so an ordinary log line skips most rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, TypeAlias

MASK = "[REDACTED]"
URL_MASK = "**********"  # how ``incident-commander config`` shows a URL's password (shared.settings)

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"


class Rule(NamedTuple):
    name: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    hints: tuple[str, ...] = ()  # the rule can only match text whose casefold() holds one of these


# ---- secret-like names ------------------------------------------------------------------------
# A word that makes a key, header, flag or env var name a secret (each starts with one of p s t a f e,
# which secret_assignment relies on). It must end a word: "tokenizer", "passwords", "secretary" are
# not keys of secrets; "SecretAccessKey", "DB_PASS", "token_count" are candidates (the last of which
# _DESCRIPTIVE then lets through). "pass" only after "_" (DB_PASS), so dbt's summary
# "PASS=4 WARN=0 ERROR=1" is kept.
_SECRET_WORD = (
    r"(?:password|passwd|passphrase|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|account[_\-]?key|fernet[_\-]?key|signing[_\-]?key|encryption[_\-]?key"
    r"|(?<=_)pass)(?!(?-i:[a-z]))"
)
# A secret-like name (flags, redact_json keys): those words, plus pwd, sig, signature, authorization, credentials.
_SECRET_NAME = re.compile(
    r"(?i)" + _SECRET_WORD + r"|(?<![a-z])(?:pwd|sig|signature|authorization|credentials?)(?![a-z])"
)
# A secret-word key whose LAST word is one of these describes the secret, it does not hold it:
# token_count=512, password_reset_requested=true, token_uri=https://…, SharedAccessKeyName=Root…,
# --password-file /etc/secret/path (a path, not a password: kept so the reader sees which file).
_DESCRIPTIVE = frozenset(
    {
        "count",
        "counts",
        "name",
        "names",
        "type",
        "types",
        "kind",
        "file",
        "files",
        "path",
        "dir",
        "length",
        "len",
        "size",
        "requested",
        "reset",
        "expires",
        "expiry",
        "expiration",
        "expired",
        "exp",
        "ttl",
        "at",
        "ts",
        "time",
        "date",
        "url",
        "uri",
        "endpoint",
        "policy",
        "hint",
        "required",
        "enabled",
        "disabled",
        "min",
        "max",
        "limit",
        "changed",
        "updated",
        "created",
        "rotated",
        "rotation",
        "usage",
        "field",
        "column",
        "header",
        "prompt",
        "scheme",
        "algorithm",
        "format",
        "version",
        "backend",
        "arn",
        "label",
        "env",
        "var",
        "source",
        "provider",
        "mode",
        "status",
        "ref",
        "location",
        "lifetime",
        "seconds",
        "set",
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _last_word(name: str) -> str:
    words = _WORD.findall(name)
    return words[-1].lower() if words else ""


def is_secret_name(name: str) -> bool:
    """True for a key, header, flag or variable name that holds a secret (``DB_PASS``, ``api_key``)."""
    return bool(_SECRET_NAME.search(name)) and _last_word(name) not in _DESCRIPTIVE


# ---- values -----------------------------------------------------------------------------------
_KEY_QUOTE = r"""(?:''|\\"|['"])"""
# A value after ``key=`` / ``"key": ``: quoted (every quoting a log shows: JSON with escapes, Python
# repr, JSON inside a JSON string, a repr inside a SQL string with doubled quotes) or a bare token.
# Bare: not [REDACTED], not None/null/true/false (a missing password is worth seeing), not a nested
# {…} or […] (its own keys are redacted one by one); "Bearer xyz" is one value. Escaped quotes are
# matched as an unrolled loop ("[^"\\]*(?:\\.[^"\\]*)*"): one pass, no per-character branching. A
# quoted value cut off before its closing quote (a truncated log line) is masked to the end of the line.
_UNTIL_CLOSED = r"""(?:(?=\n)|\Z)"""
_VALUE = (
    r"""(?:''[^'\n]*''"""  # ''s3cr3t''  (Postgres query text)
    r"""|\\"[^"\n]*\\\""""  # \"s3cr3t\"  (JSON in a JSON string)
    r"""|"[^"\\\n]*(?:\\.[^"\\\n]*)*(?:"|""" + _UNTIL_CLOSED + ")"  # "s3\"cr3t"  (JSON)
    r"""|'[^'\\\n]*(?:\\.[^'\\\n]*)*(?:'|""" + _UNTIL_CLOSED + ")"  # 's3cr3t'    (Python repr)
    r"""|(?!\[REDACTED\]|(?:None|null|NULL|nil|true|false|True|False)\b|[\[{])"""
    r"""(?:(?:Bearer|Basic|Token)[ \t]+)?[^\s'",;&]+)"""
)
_SQL_STRING = (
    r"""(?:''[^'\n]*''"""  # '' and "" escape quotes
    r"""|'[^'\n]*(?:''[^'\n]*)*(?:'|""" + _UNTIL_CLOSED + ")"
    r"""|"[^"\n]*(?:""[^"\n]*)*(?:"|""" + _UNTIL_CLOSED + "))"
)
_BARE = r"""(?:'[^'\n]*'|"[^"\n]*"|(?!\[REDACTED\])[^\s'"]+)"""  # a shell word: quoted or bare
_QUOTES = ("''", '\\"', '"', "'")
_SECRET_HINTS = ("pass", "secret", "token", "key")  # every _SECRET_WORD holds one


def _keep_quotes(prefix: str, value: str, quoted_key: bool) -> str:
    """``prefix`` + MASK; a value quoted like its key keeps its quotes (the JSON or repr stays valid)."""
    if quoted_key:
        for q in _QUOTES:
            if len(value) >= 2 * len(q) and value.startswith(q) and value.endswith(q):
                return prefix + q + MASK + q
    return prefix + MASK


def _mask_assignment(m: re.Match[str]) -> str:
    if _last_word(m["key"]) in _DESCRIPTIVE:
        return m[0]
    return _keep_quotes(m[0][: m.start("val") - m.start()], m["val"], bool(m["kq"]))


def _mask_flag(m: re.Match[str]) -> str:
    return m["flag"] + m["sep"] + MASK if is_secret_name(m["flag"]) else m[0]


def _looks_random(s: str) -> bool:
    """Upper and lower case letters and a digit: a random base64 string, not a word, path or hex digest."""
    return any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s)


def _mask_if_random(m: re.Match[str]) -> str:
    return MASK if _looks_random(m[0]) else m[0]


def _mask_line_if_random(m: re.Match[str]) -> str:
    return m["indent"] + MASK if _looks_random(m[0]) else m[0]


def _mask_group(group: str) -> Callable[[re.Match[str]], str]:
    """Replace only the named group with MASK; everything else in the match stays."""

    def replace(m: re.Match[str]) -> str:
        start, end = m.start(group) - m.start(), m.end(group) - m.start()
        return m[0][:start] + MASK + m[0][end:]

    return replace


def _token(body: str) -> str:
    """A self-identifying token: it does not start or end inside a longer run of token characters."""
    return r"(?<![A-Za-z0-9_\-])" + body + r"(?![A-Za-z0-9_\-])"


_AUTH_SCHEME = r"(?:bearer|basic|token|digest|negotiate|ntlm|apikey|sso-key|aws4-hmac-sha256)"

# ---- the rules, in the order they run -----------------------------------------------------------
RULES: tuple[Rule, ...] = (
    # PEM private keys (RFC 7468): RSA, EC, DSA, OPENSSH, ENCRYPTED, PKCS#8, PGP blocks. Armor kept,
    # body masked; a key cut off before its END line is masked to the end of the text.
    Rule(
        "pem_private_key",
        re.compile(
            r"(?P<begin>-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----)(?P<body>.*?)"
            r"(?P<end>-----END [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
        r"\g<begin>" + MASK + r"\g<end>",
        ("private key",),
    ),
    # A PEM body line on its own (60-76 base64 characters with upper and lower case and a digit, alone on
    # its line): what is left of a private key when a log is redacted line by line, as evidence is.
    # A certificate's lines match too; hiding them costs nothing.
    Rule("pem_body_line", re.compile(r"(?m)^(?P<indent>[ \t]*)[A-Za-z0-9+/]{60,76}(?=[ \t]*$)"), _mask_line_if_random),
    # Slack incoming webhooks / workflow triggers carry their secret in the path (api.slack.com/messaging/webhooks)
    Rule(
        "slack_webhook",
        re.compile(r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[^\s'\"<>|]+"),
        MASK,
        ("hooks.slack.com",),
    ),
    # user:password@ in any URL: postgresql://, postgres+psycopg://, snowflake://, redis://:pw@, rediss://,
    # mysql://, mongodb+srv://, amqp://, Airflow connection URIs (also with an empty host: snowflake://u:p@/db).
    # The password may hold unencoded '/', '?', '#', '@' and ':', so it runs to the LAST '@' of the URL
    # (which ends at a space, a quote or the next "://"): when in doubt more is hidden (an '@' in the
    # path hides the host too), never less. A port followed by a path ("https://h:8443/u/maria@x.com")
    # is not a password.
    Rule(
        "url_userinfo",
        re.compile(
            r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^:/@\s\"'<>`]{0,256}:(?!\d{1,5}(?:[/?#]|$))"
            r"(?P<pw>(?:[^\s\"'<>`:]|:(?!//))*)@"
        ),
        _mask_group("pw"),
        ("://",),
    ),
    # Authorization / Proxy-Authorization header (RFC 9110 §11.6): the scheme stays, the credentials go,
    # including an AWS SigV4 parameter list (Credential=…, SignedHeaders=…, Signature=…)
    Rule(
        "authorization_header",
        re.compile(
            r"""(?i)(?P<head>(?<![\w-])(?:proxy-)?authorization(?:''|\\"|['"])?[ \t]*[:=][ \t]*(?:''|\\"|['"])?"""
            r"""(?:""" + _AUTH_SCHEME + r"""[ \t]+)?)(?!\[REDACTED\]|""" + _AUTH_SCHEME + r"""(?![\w-]))"""
            r"""[^\s'",\\]+(?:,[ \t]*[A-Za-z][\w-]{0,30}=[^\s'",\\]+)*"""
        ),
        r"\g<head>" + MASK,
        ("authorization",),
    ),
    # Slack tokens (api.slack.com/authentication/token-types): xoxb- bot, xoxp- user, xoxa-/xoxr- (refresh),
    # xoxs-, xoxe.xoxp-/xoxe- rotating tokens, xapp- app-level tokens
    Rule(
        "slack_token", re.compile(_token(r"(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9\-]{8,}")), MASK, ("xox", "xapp-")
    ),
    # GitHub (docs: "About authentication to GitHub", token formats): ghp_/gho_/ghu_/ghs_/ghr_ + 36,
    # fine-grained PAT github_pat_ + 82 chars (22 + "_" + 59)
    Rule(
        "github_token",
        re.compile(_token(r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
        MASK,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    # GitLab personal/deploy/runner tokens (docs: token prefixes): glpat-, gldt-, glrt-, glptt-, glcbt- + 20
    Rule("gitlab_token", re.compile(_token(r"gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_\-]{20,}")), MASK, ("gl",)),
    # Stripe secret / restricted keys and webhook secrets (docs: API keys): sk_live_, rk_live_, *_test_, whsec_
    Rule(
        "stripe_key",
        re.compile(_token(r"(?:(?:sk|rk)_(?:live|test)|whsec)_[A-Za-z0-9]{16,}")),
        MASK,
        ("_live_", "_test_", "whsec_"),
    ),
    # SendGrid API key: SG. + 22 + . + 43 (base64url)
    Rule("sendgrid_key", re.compile(_token(r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}")), MASK, ("sg.",)),
    # Twilio API key SID: SK + 32 hex (the auth token itself has no prefix: caught by its key name)
    Rule("twilio_api_key", re.compile(_token(r"SK[0-9a-fA-F]{32}")), MASK, ("sk",)),
    # npm access tokens: npm_ + 36 (docs.npmjs.com, "About access tokens")
    Rule("npm_token", re.compile(_token(r"npm_[A-Za-z0-9]{36}")), MASK, ("npm_",)),
    # PyPI API tokens: pypi- + a base64url macaroon (starts AgEIcHlwaS5vcmc, "pypi.org")
    Rule("pypi_token", re.compile(_token(r"pypi-[A-Za-z0-9_\-]{50,}")), MASK, ("pypi-",)),
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-…, sk-ant-admin01-…) keys;
    # random, so they hold a digit, which "sk-learn-compatible-estimators" does not
    Rule(
        "openai_anthropic_key",
        re.compile(_token(r"sk-(?=[A-Za-z0-9_\-]{0,300}?\d)[A-Za-z0-9_\-]{20,}")),
        MASK,
        ("sk-",),
    ),
    # Google API key: AIza + 35 (cloud.google.com/docs/authentication/api-keys); OAuth client secret GOCSPX- + 28
    Rule(
        "google_api_key",
        re.compile(_token(r"(?:AIza[0-9A-Za-z_\-]{35}|GOCSPX-[0-9A-Za-z_\-]{28})")),
        MASK,
        ("aiza", "gocspx-"),
    ),
    # Databricks personal access token: dapi + 32 hex (optionally -2)
    Rule("databricks_token", re.compile(_token(r"dapi[0-9a-f]{32}(?:-\d+)?")), MASK, ("dapi",)),
    # HashiCorp Vault tokens (Vault 1.10+ formats): hvs. service, hvb. batch, hvr. recovery
    Rule("vault_token", re.compile(_token(r"hv[sbr]\.[A-Za-z0-9_\-]{24,}")), MASK, ("hvs.", "hvb.", "hvr.")),
    # AWS access key ids (IAM docs, "unique ID prefixes"): AKIA long-term, ASIA temporary + 16 base32 chars
    Rule("aws_access_key_id", re.compile(_token(r"(?:AKIA|ASIA)[A-Z0-9]{16}")), MASK, ("akia", "asia")),
    # AWS STS session tokens: base64 starting IQoJb3JpZ2luX2Vj ("origin_ec") or FwoGZXIvYXdz (older)
    Rule(
        "aws_session_token",
        re.compile(r"(?<![A-Za-z0-9/+=])(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+]{20,}={0,2}"),
        MASK,
        ("iqojb3jpz2lux2vj", "fwogzxivyxdz"),
    ),
    # JWT (RFC 7519): three base64url parts, the header a JSON object ("eyJ" = '{"')
    Rule(
        "jwt",
        re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        MASK,
        ("eyj",),
    ),
    # Signed URLs: Azure SAS sig= (learn.microsoft.com, "Create a service SAS"), AWS SigV4 query auth
    # X-Amz-Signature / X-Amz-Credential / X-Amz-Security-Token, GCS X-Goog-Signature, CloudFront Signature=
    Rule(
        "url_signature",
        re.compile(
            r"(?i)(?P<k>[?&;](?:sig|signature|x-(?:amz|goog)-(?:signature|credential|security-token))=)"
            r"(?!\[REDACTED\])[^&\s#'\"<>]+"
        ),
        r"\g<k>" + MASK,
        ("sig", "x-amz-", "x-goog-"),
    ),
    # key=value, key: value, "key": "value", 'key': 'value', ''key'': ''value'', \"key\": \"value\",
    # KEY => value for secret-like keys: env lines (DB_PASS=, PGPASSWORD=, export API_KEY=), JSON and
    # Python reprs (password, client_secret, SecretAccessKey, private_key), kwargs (password='…',
    # private_key_passphrase=…), Azure AccountKey=/SharedAccessKey=, headers (X-Api-Key:), URL query
    # (?token=, &access_token=, &api_key=, &password=), Snowflake CREATE USER … PASSWORD = '…'
    # (The look-ahead, the first letters of the secret words, lets most positions fail on one test.)
    Rule(
        "secret_assignment",
        re.compile(
            r"(?i)(?=[pstafe])(?P<key>" + _SECRET_WORD + r"[\w.\-]{0,40})(?P<kq>" + _KEY_QUOTE + r"?)"
            r"(?P<sep>[ \t]*(?:=>|[=:])[ \t]*)(?P<val>" + _VALUE + ")"
        ),
        _mask_assignment,
        _SECRET_HINTS,
    ),
    # user:password pairs of a basic-auth setting: Flower's FLOWER_BASIC_AUTH / --basic-auth=u1:p1,u2:p2
    # (flower.readthedocs.io, "Authentication"); the first user name stays
    Rule(
        "basic_auth_setting",
        re.compile(
            r"""(?i)(?P<k>basic[_\-]?auth(?:''|\\"|['"])?[ \t]*[=:][ \t]*(?:''|\\"|['"])?[^:\s'",=]{1,100}:)"""
            r"""(?!\[REDACTED\])[^\s'"]+"""
        ),
        r"\g<k>" + MASK,
        ("basic",),
    ),
    # Bearer/Basic credentials outside a header ("curl … Bearer abc123…"); a word in prose ("the Bearer
    # scheme") is not one: the credential must hold a digit, a base64 symbol or a camel hump
    Rule(
        "bearer_credential",
        re.compile(
            r"(?i)(?<![\w-])(?P<scheme>bearer|basic)[ \t]+(?!\[REDACTED\])"
            r"(?=[\w.~+/=\-]{0,2000}?(?:\d|[+/=]|(?-i:[a-z][A-Z])))[\w.~+/=\-]{8,}"
        ),
        r"\g<scheme> " + MASK,
        ("bearer", "basic"),
    ),
    # ODBC / ADO connection strings: Pwd=…; (a braced value may hold ';', doubled '}}' escapes '}').
    # PWD=/opt/airflow, the shell's working directory in an env dump, is a path and is kept.
    Rule(
        "odbc_pwd",
        re.compile(
            r"(?i)(?P<k>(?<![A-Za-z0-9])pwd[ \t]*=[ \t]*)(?!\[REDACTED\])"
            r"(?:\{[^}\n]*(?:\}\}[^}\n]*)*\}|(?![/~])[^;\s'\"]+)"
        ),
        r"\g<k>" + MASK,
        ("pwd",),
    ),
    # mysql/mariadb client: -pPASSWORD glued to the flag, within 20 words of the command (-p alone
    # prompts for it; -P is the port)
    Rule(
        "mysql_p_flag",
        re.compile(
            r"(?P<k>(?<![\w-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mariadb|mariadb-dump)\b"
            r"(?:[ \t]+\S{1,200}+){0,20}?[ \t]+-p)(?![ \t]|\[REDACTED\])" + _BARE
        ),
        r"\g<k>" + MASK,
        ("mysql", "mariadb"),
    ),
    # sshpass -p PASSWORD
    Rule(
        "sshpass", re.compile(r"(?P<k>\bsshpass[ \t]+-p[ \t]*)(?!\[REDACTED\])" + _BARE), r"\g<k>" + MASK, ("sshpass",)
    ),
    # command-line flags named like a secret: --password x, --password=x, --api-token x, --client-secret=x.
    # (The look-behind sits after the first '-' so the regex engine can skip to each '-' directly.)
    Rule(
        "cli_flag",
        re.compile(r"(?P<flag>-(?<![\w-]-)-?[A-Za-z][\w\-]{0,60})(?P<sep>[ \t]+|=)(?!-)(?P<val>" + _VALUE + ")"),
        _mask_flag,
        _SECRET_HINTS + ("pwd", "sig", "authorization", "credential"),
    ),
    # SQL: ALTER USER/ROLE … [ENCRYPTED] PASSWORD '…' (PostgreSQL, Redshift), quoted with '' escapes
    Rule(
        "sql_password", re.compile(r"(?i)(?P<k>(?<![\w-])password[ \t]+)" + _SQL_STRING), r"\g<k>" + MASK, ("password",)
    ),
    # SQL: CREATE/ALTER USER … IDENTIFIED BY [VALUES] '…' (MySQL, Oracle, where it may be bare)
    Rule(
        "sql_identified_by",
        re.compile(
            r"(?i)(?P<k>\bidentified[ \t]+by(?:[ \t]+values)?[ \t]+)(?!\[REDACTED\]|password\b)"
            r"(?:" + _SQL_STRING + r"|[^\s;'\"]+)"
        ),
        r"\g<k>" + MASK,
        ("identified",),
    ),
    # .netrc (GNU inetutils): machine HOST [login USER] [account A] password PASSWORD, across lines too
    Rule(
        "netrc",
        re.compile(
            r"(?P<k>\b(?:machine[ \t\n]+\S+(?:\s+(?:login|account|port)\s+\S+){0,3}"
            r"|default(?:\s+(?:login|account)\s+\S+){1,2})\s+password\s+)"
            r"(?!\[REDACTED\])\S+"
        ),
        r"\g<k>" + MASK,
        ("password",),
    ),
    # .netrc written one token pair a line, as the file often is: an indented "password VALUE" line alone
    Rule(
        "netrc_password_line",
        re.compile(r"(?m)^(?P<k>[ \t]+password[ \t]+)(?!\[REDACTED\])\S+(?=[ \t]*$)"),
        r"\g<k>" + MASK,
        ("password",),
    ),
    # .pgpass (PostgreSQL docs, "The Password File"): hostname:port:database:username:password, starting
    # a word (the look-behind sits after the first character so the engine skips non-candidates fast).
    # The user name holds a letter or is '*', so times ("03:01:12–03:02:07") and run ids followed by
    # JSON ("…T03:00:00+00:00","try_number":1) are not taken for one.
    Rule(
        "pgpass",
        re.compile(
            r"(?P<k>[A-Za-z0-9_.\-*](?<![^\s'\"`].)[A-Za-z0-9_.\-*]*:(?:\d{1,5}|\*):[^:\s'\"`,\\]+:"
            r"(?=[\w.\-@]*[A-Za-z*])[\w.\-@*]+:)(?!\[REDACTED\])[^\s'\"`]+(?=$|[\s'\"`])",
            re.M,
        ),
        r"\g<k>" + MASK,
        (":",),
    ),
    # An AWS secret access key on its own (the credentials .csv, a positional argument): exactly 40
    # base64 characters holding an upper, a lower case letter and a digit, not a path ("/opt/…").
    # Git SHAs (lower-case hex) and sha256 digests (64) do not qualify. Runs last, after every
    # rule that recognises a key by its name.
    Rule(
        "aws_secret_access_key",
        re.compile(r"[A-Za-z0-9+](?<![A-Za-z0-9/+=].)[A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])"),
        _mask_if_random,
    ),
)


def _fold(text: str) -> str:
    """``text`` case-folded the way re's IGNORECASE compares letters, for the hint look-ups.

    casefold() maps 'ſ' to s and the Kelvin sign to k as re does; re also takes dotless 'ı' and
    'İ' (which casefolds to i + U+0307) for i. Dropping characters can only create hint matches.
    """
    return text.casefold().replace("\u0307", "").replace("\u0131", "i")


def redact(text: str) -> str:
    """Return ``text`` with credentials replaced by ``[REDACTED]``; idempotent, linear time."""
    folded = _fold(text)
    for rule in RULES:
        if not rule.hints or any(hint in folded for hint in rule.hints):
            text = rule.pattern.sub(rule.replacement, text)
    return text


def mask_url(url: str) -> str:
    """``url`` for display: the password of ``user:password@`` and secret query values become ``**********``.

    The last ``@`` ends the credentials, so a password holding an unencoded ``@``, ``/``, ``?`` or
    ``#`` is masked whole (when in doubt more is hidden, never less); text with an ``@`` but no
    ``://`` is masked entirely. ``redis://:pw@h:6379/0`` -> ``redis://:**********@h:6379/0``;
    ``rediss://u:pw@h:6380/0?ssl_cert_reqs=required`` keeps its query.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return URL_MASK if "@" in url else url
    at = rest.rfind("@")
    if at >= 0:
        user, colon, password = rest[:at].partition(":")
        if colon and password:
            rest = f"{user}:{URL_MASK}@{rest[at + 1 :]}"
    return f"{scheme}://" + _QUERY_PARAM.sub(_mask_query_param, rest)


_QUERY_PARAM = re.compile(r"(?P<k>[?&;](?P<name>[^=&#;?\s]{1,100})=)(?P<val>[^&#;\s]+)")


def _mask_query_param(m: re.Match[str]) -> str:
    return m["k"] + URL_MASK if is_secret_name(m["name"]) and m["val"] != URL_MASK else m[0]


def redact_json(value: JSONValue) -> JSONValue:
    """A copy of a JSON-like value with every string value redacted (keys kept), nested.

    A non-empty string under a secret-like key (``password``, ``client_secret``, ``SecretAccessKey``,
    ``api_key``, ``private_key``, ``Authorization``…) is masked whole, whatever it looks like.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(v, str) and v and isinstance(k, str) and is_secret_name(k) else redact_json(v)
            for k, v in value.items()
        }
    return value


def one_line(text: str) -> str:
    """``text`` on one line, control characters (a NUL in a hostile path, an ANSI escape) shown as '?'."""
    return " ".join("".join(c if c.isprintable() or c.isspace() else "?" for c in text).split())


def truncate(text: str, limit: int, *, marker: str = " …[truncated]") -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def clean(text: str | None, limit: int) -> str | None:
    """Redact then truncate; the form every untrusted string takes before it is sent anywhere."""
    return None if text is None else truncate(redact(text), limit)
