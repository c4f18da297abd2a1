"""A test that cannot run for want of a service, binary or accelerated path skips here and fails in CI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.requirements import require, require_module

TESTS = Path(__file__).resolve().parent
HOW = "apt-get install thing"


@pytest.mark.parametrize("ci", [None, "", "0", "false", "no", "False"])
def test_a_missing_requirement_skips_outside_ci_with_what_and_how(
    ci: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a developer's machine (CI unset, or set to a false value)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    # When a test requires something missing, Then it is skipped, and the reason says what and how
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(False, "the thing binary", HOW)
    assert str(skipped.value) == f"the thing binary is missing ({HOW}); with CI=true this fails"


@pytest.mark.parametrize("ci", ["true", "1", "True", "yes"])
def test_a_missing_requirement_fails_in_ci_with_what_and_how(ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given CI
    monkeypatch.setenv("CI", ci)
    # When a test requires something missing, Then it fails (not skips), saying what and how
    with pytest.raises(pytest.fail.Exception) as failed:
        require(False, "the thing binary", HOW)
    assert str(failed.value) == f"CI=true and the thing binary is missing, so this test cannot run: {HOW}"


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_requirement_that_is_there_lets_the_test_run(ci: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    require(True, "the thing binary", HOW)
    assert require_module("json", HOW) is json


def test_a_module_that_cannot_be_imported_is_named_with_the_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_module("no_such_module_for_the_tests", "pip install it")
    assert "the Python module no_such_module_for_the_tests (No module named" in str(failed.value)
    assert str(failed.value).endswith(": pip install it")


NOT_CHECKED = {"requirements.py", "test_requirements.py"}
BARE_SKIP = re.compile(r"pytest\.skip\(|\.skipif\(|importorskip\(|mark\.skip\b")


def test_every_skip_goes_through_require() -> None:
    """A bare skip would stay green in CI: each test that may not run says so through ``require``."""
    bare = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if "fixtures" not in path.relative_to(TESTS).parts and path.name not in NOT_CHECKED
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if BARE_SKIP.search(line)
    ]
    assert bare == []
