"""One exception tree for the whole project.

    IncidentCommanderError          base of everything we raise on purpose
    ├── RetryableError              worth trying again; carries ``retry_after_s``
    │   ├── BrokerUnavailable       Redis/the broker did not answer in time
    │   ├── SlackRetryable          Slack rate-limited us (the call was not performed)
    │   │   └── SlackAmbiguous      a time-out, 5xx or dropped connection: the call may have been performed
    │   ├── SourceUnavailable       a log, warehouse or artifact source did not answer (transient)
    │   └── IncidentBusy            another worker holds the incident's message lock
    └── PermanentError              trying again gives the same answer
        ├── ConfigError             a setting is missing or malformed (names the variable)
        ├── InvalidTrigger          a trigger message failed validation
        ├── SlackPermanent          Slack said no (bad token, channel_not_found, ...)
        ├── UnsafeQuery             the read-only SQL guard rejected a statement
        └── SourceError             a source answered, but with something we cannot use

External errors are mapped into this tree once, at the adapter, with ``raise ... from exc``.
Every message is redacted when the exception is made: exception text travels to worker logs,
Flower's task pages and ``failures``.
"""

from __future__ import annotations

from shared.redact import redact


class IncidentCommanderError(Exception):
    """Raised on purpose by this project; never raised into Airflow."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(redact(str(message)), *args)


class RetryableError(IncidentCommanderError):
    """Raised when the same call may succeed later."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(IncidentCommanderError):
    """Raised when repeating the call cannot help."""


class BrokerUnavailable(RetryableError):
    """Raised when the broker cannot take a message within the publish time-out."""


class SlackRetryable(RetryableError):
    """Raised when Slack rate-limits us or fails transiently, after the SDK's own retries."""


class SlackAmbiguous(SlackRetryable):
    """Raised when Slack's answer was lost (time-out, 5xx, dropped connection): it may have done the call.

    A post that ends like this is never simply repeated: the caller first looks for the message
    it tagged (``IncidentSink.find_tagged``), and posts again only when it is not there.
    """


class SourceUnavailable(RetryableError):
    """Raised when a log, warehouse or artifact source does not answer."""


class IncidentBusy(RetryableError):
    """Raised when another worker holds (or took over) the lock on an incident's Slack message."""


class MessageRejected(PermanentError):
    """Raised by the bounded decoder when a message is too large or nested too deep to decode safely."""


class ConfigError(PermanentError):
    """Raised when a setting is missing or malformed; the message names the variable."""


class InvalidTrigger(PermanentError):
    """Raised when a trigger message does not validate against the contract."""


class SlackPermanent(PermanentError):
    """Raised when Slack refuses a call for a reason retrying cannot fix."""


class UnsafeQuery(PermanentError):
    """Raised when the read-only SQL guard rejects a statement."""


class SourceError(PermanentError):
    """Raised when a source answers with something unusable (a corrupt file, a missing table)."""
