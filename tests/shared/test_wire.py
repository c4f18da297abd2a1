"""Bounded decoding: the limits hold before anything recursive touches a message."""

from __future__ import annotations

import json

import pytest
from kombu.exceptions import DecodeError
from kombu.serialization import loads

from shared import wire
from shared.celery_app import make_app
from shared.settings import load_settings


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_message_nested_past_the_limit_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(wire.MessageRejected, match="deeper than 64"):
        wire.check_shape(_nested(65))
    wire.check_shape(_nested(64))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    wire.check_shape(json.dumps({"log": "[" * 10_000 + '\\" {{{{'}))


def test_a_message_over_the_size_limit_is_refused_without_scanning_it() -> None:
    with pytest.raises(wire.MessageRejected, match="byte limit"):
        wire.check_shape(b" " * (wire.MAX_MESSAGE_BYTES + 1))


def test_every_worker_app_decodes_json_through_the_bounded_decoder() -> None:
    # Given a worker app is built (each service builds its app with make_app)
    make_app("probe", settings=load_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"))
    # Then kombu's json codec refuses a poison body, as Celery's consumer sees it: a DecodeError
    with pytest.raises(DecodeError):
        loads(_nested(500), "application/json", "utf-8")
    assert loads('[[{"dag_id": "d"}], {}, {}]', "application/json", "utf-8") == [[{"dag_id": "d"}], {}, {}]


def test_the_worker_consumer_records_what_it_cannot_decode() -> None:
    from shared.celery_app import celery_config

    assert celery_config(load_settings())["worker_consumer"] == "shared.wire:RecordingConsumer"


def test_unclosed_quotes_cannot_make_the_scan_quadratic() -> None:
    # 200 KB of 'x\"' took minutes with a string pattern that had no end-of-text fallback;
    # pytest's per-test timeout fails this test if the scan is quadratic again
    wire.check_shape('x\\"' * 70_000)


def test_headers_nested_past_the_limit_are_refused_without_recursion() -> None:
    nested: dict[str, object] = {}
    for _ in range(5_000):
        nested = {"a": nested}
    with pytest.raises(wire.MessageRejected, match="deeper than 64"):
        wire.check_value({"task": "pic.commander.triage", "x": nested})
    wire.check_value({"task": "pic.commander.triage", "argsrepr": "(d.t run=r try=1)", "retries": 0})
