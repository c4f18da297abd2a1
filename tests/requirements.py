"""What a test needs from the machine: skipped here when missing, a failure in CI.

Every test that cannot run for want of a service, a binary or an accelerated path says so through
``require`` (or ``require_module``), never through a bare ``pytest.skip``, ``skipif`` or
``importorskip`` (``tests/test_requirements.py`` checks). On a developer's machine the test is
skipped and the reason printed (``-ra``); with ``CI`` set (``.ci/run`` exports ``CI=true``) the same
test fails, naming what is missing and how to get it, so CI is never green on a suite that did not run.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

_NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """``CI`` is set to anything but empty, 0, false or no (CI services set ``true`` or ``1``)."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def require(available: bool, what: str, how: str) -> None:
    """Go on if ``available``; else skip the test here, or fail it in CI, naming ``what`` and ``how``."""
    __tracebackhide__ = True  # the skip or failure is reported at the test's line, not this one
    if available:
        return
    if in_ci():
        pytest.fail(f"CI=true and {what} is missing, so this test cannot run: {how}", pytrace=False)
    pytest.skip(f"{what} is missing ({how}); with CI=true this fails")


def require_module(name: str, how: str) -> ModuleType:
    """The module ``name``, imported; when it cannot be, ``require`` decides (skip here, fail in CI)."""
    __tracebackhide__ = True
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        error = exc
    require(False, f"the Python module {name} ({error})", how)  # outside the except: no chained traceback
    raise error  # not reached: require skipped or failed
