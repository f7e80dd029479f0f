"""The emulator fixture itself: a real HTTP server the SDK talks to, and handlers that fill its
gaps ahead of its own routes."""

from __future__ import annotations

import base64

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ImportFormat, Language

from tests.emulator import Emulator


def test_sdk_round_trips_a_notebook_over_http(emulator: Emulator) -> None:
    client = emulator.client()
    source = b"# Databricks notebook source\nprint('round trip')\n"
    client.workspace.mkdirs("/Users/fixture@example.com/check")
    client.workspace.import_(
        path="/Users/fixture@example.com/check/nb",
        content=base64.b64encode(source).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    exported = client.workspace.export("/Users/fixture@example.com/check/nb").content
    assert exported is not None and base64.b64decode(exported) == source
    with pytest.raises(NotFound):
        client.workspace.get_status("/Users/fixture@example.com/check/missing")


def test_an_added_handler_answers_before_the_emulators_own_routes(emulator: Emulator) -> None:
    def answer() -> dict[str, str]:
        return {"answered_by": "fixture"}

    emulator.add_handler("GET", "/api/2.0/fixture-check", answer)
    response = emulator.client().api_client.do("GET", "/api/2.0/fixture-check")
    assert response == {"answered_by": "fixture"}
