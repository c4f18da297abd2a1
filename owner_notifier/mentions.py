"""Turn a declared owner string into a Slack mention, or say why it cannot be one.

Only two forms ever come out as ``slack``, both ``shared.contracts.SlackMention`` (one pattern,
``MENTION_PATTERN``): ``<@U…>``/``<@W…>`` (a user) and ``<!subteam^S…>`` (a user group; a
label, ``<!subteam^S…|name>``, is dropped). The renderer inserts exactly those unescaped and
escapes everything else, so an ``@handle`` is kept as given but stays plain text in Slack (it
notifies nobody): declare an email or a ``<@U…>`` to be paged. Nothing is guessed: an owner
that cannot be resolved is reported with its raw string.

    email            -> UserDirectory.user_id_for_email -> <@U…>   (via "user_directory")
    <@U…> / <!subteam^S…>[|label]                        -> kept    (via "as_given")
    subteam^S… / !subteam^S…                             -> <!subteam^S…>
    @handle                                              -> not a mention (plain text)
    team name in OWNERS_FILE -> its value, resolved as above          (via "owners_file")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts import MENTION_PATTERN
from shared.errors import IncidentCommanderError
from shared.ports import UserDirectory

# A user group written with its label, or bare: both become <!subteam^ID>.
_LABELLED_GROUP = re.compile(r"^<!subteam\^([A-Z0-9]+)\|[^<>]*>$")
_BARE_GROUP = re.compile(r"^!?subteam\^([A-Z0-9]+)$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_HANDLE = re.compile(r"^@[\w.\-]+$")


@dataclass(frozen=True, slots=True)
class Mention:
    """The outcome for one owner: a safe mention, or None with the reason."""

    slack: str | None  # fullmatches MENTION_PATTERN (a SlackMention), else None
    via: str  # as_given, user_directory, owners_file, none
    note: str | None = None  # why there is no mention, or what the handle means


def is_mention(text: str) -> bool:
    """True for the two forms the renderer may insert unescaped."""
    return MENTION_PATTERN.fullmatch(text) is not None


def resolve_mention(
    owner: str,
    *,
    directory: UserDirectory | None,
    teams: Mapping[str, Any] | None = None,
    team_keys: Sequence[str] = (),
) -> Mention:
    """The Slack mention for ``owner`` (``directory`` None: no email look-ups, e.g. the CLI)."""
    direct = _direct(owner, directory)
    if direct is not None:
        return direct
    for key in (owner, *team_keys):
        value = _team_value(teams or {}, key)
        if value is not None:
            inner = _direct(value, directory)
            if inner is None:
                return Mention(
                    None,
                    "none",
                    f"OWNERS_FILE maps {key!r} to {value!r}, which is not a Slack user, user group, email or handle",
                )
            return Mention(inner.slack, "owners_file", inner.note or f"OWNERS_FILE[{key}] = {value}")
    return Mention(None, "none", f"{owner!r} is not an email or Slack mention and is not in OWNERS_FILE")


def _direct(owner: str, directory: UserDirectory | None) -> Mention | None:
    """Resolve the forms that need no owners file; None means "not one of those forms"."""
    owner = owner.strip()
    if is_mention(owner):
        return Mention(owner, "as_given")
    bare = _BARE_GROUP.fullmatch(owner) or _LABELLED_GROUP.fullmatch(owner)
    if bare:
        return Mention(f"<!subteam^{bare.group(1)}>", "as_given")
    if _HANDLE.fullmatch(owner):
        return Mention(None, "as_given", f"{owner} is a handle: shown as plain text, Slack does not notify it")
    if _EMAIL.fullmatch(owner):
        return _lookup(owner, directory)
    return None


def _lookup(email: str, directory: UserDirectory | None) -> Mention:
    if directory is None:
        return Mention(None, "none", f"{email}: no Slack directory configured to look the email up")
    try:
        user_id = directory.user_id_for_email(email)
    except IncidentCommanderError as exc:  # rate limited past the adapter's retries, bad token, ...
        return Mention(None, "none", f"{email}: Slack lookup failed ({exc})")
    if user_id is None:
        return Mention(None, "none", f"{email}: no Slack user has this email")
    if not _USER_ID.fullmatch(user_id):  # fullmatch: "U1\n" is not an id
        return Mention(None, "none", f"{email}: directory returned an invalid user id")
    return Mention(f"<@{user_id}>", "user_directory")


def _team_value(teams: Mapping[str, Any], key: str) -> str | None:
    value = teams.get(key)
    if value is None:
        folded = key.casefold()
        value = next((v for k, v in teams.items() if k.casefold() == folded), None)
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), None)  # the first entry is the primary
    return value.strip() if isinstance(value, str) else None
