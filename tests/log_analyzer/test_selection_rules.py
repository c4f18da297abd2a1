"""Root-failure rules that mutation testing (``make mutate TARGET=analyzer``) found unpinned:
how a dbt header names its node, how a header refines an unknown class, what run_results.json
says when the log says nothing, and what "no failure" looks like.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from log_analyzer import analyze_log

MODEL_ERROR = "4 of 11 ERROR creating sql view model {name} ....... [ERROR in 0.03s]"


@pytest.mark.parametrize("name", ["main.stg_orders", "analytics.main.stg_orders", "stg_orders"])
def test_an_error_creating_line_names_the_model_by_its_last_dotted_part(name: str) -> None:
    line = MODEL_ERROR.format(name=name)
    result = analyze_log([line])
    assert (result.failed_node, result.step) == ("model.stg_orders", "dbt.model_error_line")
    assert result.root_cause == f"unknown in model stg_orders: {line}"


def test_a_freshness_error_line_names_the_source() -> None:
    line = "1 of 1 ERROR freshness of raw.raw_orders ........ [ERROR in 0.04s]"
    result = analyze_log([line])
    assert (result.failed_node, result.root_cause) == (
        "source.raw.raw_orders",
        f"unknown in source raw.raw_orders: {line}",
    )


def test_a_later_header_naming_the_same_node_more_briefly_keeps_the_fuller_name() -> None:
    result = analyze_log(
        [
            "1 of 1 ERROR freshness of raw.raw_orders ........ [ERROR in 0.04s]",
            "Runtime Error in source raw_orders (models/sources.yml)",
            '  Binder Error: Referenced column "amout" not found in FROM clause!',
        ]
    )
    assert (result.error_class, result.failed_node) == ("invalid_identifier", "source.raw.raw_orders")


@pytest.mark.parametrize("detail", [[], ["  100999 (XX000): something"]])
def test_a_parsing_error_header_makes_an_unknown_failure_a_compilation_error(detail: list[str]) -> None:
    result = analyze_log(["Parsing Error in model x (models/x.sql)", *detail])
    assert (result.error_class, result.failed_node) == ("compilation_error", "model.x")
    assert [e.line for e in result.evidence] == list(range(1, 2 + len(detail)))


def test_without_a_failure_in_the_log_the_run_results_message_is_analyzed(tmp_path: Path) -> None:
    message = (
        "Runtime Error in model fct_orders (models/fct_orders.sql)\n"
        '  Binder Error: Referenced column "amout" not found in FROM clause!'
    )
    results = [
        {"unique_id": "model.shop.ok_model", "status": "success", "message": "OK"},
        {"unique_id": "model.shop.fct_orders", "status": "error", "message": message},
    ]
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"results": results}))
    result = analyze_log(None, run_results=run_results)
    assert (result.error_class, result.failed_node, result.source) == (
        "invalid_identifier",
        "model.shop.fct_orders",
        "run_results.json",
    )
    # evidence lines are numbered within the message
    assert [(e.line, e.text) for e in result.evidence] == [
        (n, line.strip()) for n, line in enumerate(message.split("\n"), 1)
    ]


def test_a_log_without_a_failure_says_so_and_keeps_what_was_skipped() -> None:
    result = analyze_log(["12:00:00  2 of 4 SKIP relation main.b ... [SKIP]", "12:00:01  Completed successfully"])
    assert (result.error_class, result.failed_node, result.root_cause) == (None, None, "no failure found in the log")
    assert (result.skipped, result.source) == (("main.b",), "text")
