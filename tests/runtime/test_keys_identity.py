"""Keys with identities at the runtime, pure parts: the gateway's key file
format parsed here too, the model matcher, and when the gateway's
x-pasture-* headers are trusted (only on the gateway's own key)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from pasture_access.keyfile import KeyFileError, parse
from pasture_runtime.auth import ApiKeys, credentials
from pasture_runtime.identity import (
    ALL_SCOPES,
    ANONYMOUS,
    INFER,
    Call,
    Identity,
    call_var,
    model_allowed,
)
from pasture_runtime.logs import JsonFormatter


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS = f"""keys:
  - {{id: app, sha256: "{sha("sk-app")}", tenant: team-a, models: ["tiny*"]}}
  - {{id: gw, sha256: "{sha("sk-gw")}", tenant: platform, scopes: [infer, manage], gateway: true}}
tenants:
  team-a: {{requestsPerMinute: 10}}
"""


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        (("tiny",), "Tiny", True),
        (("tiny",), "tiny:7b", False),
        (("tiny*",), "Tiny-Alias:latest", True),
        (("other:*",), "tiny", False),
        (("*",), "x", True),
    ],
)
def test_model_globs_as_the_gateway_matches(
    patterns: tuple[str, ...], model: str, allowed: bool
) -> None:
    assert model_allowed(patterns, model) is allowed


def test_the_gateways_key_file_format(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(KEYS)
    keys = ApiKeys(str(path))
    app = keys.identify("Bearer sk-app")
    assert app is not None
    assert (app.key_id, app.tenant, app.scopes, app.gateway) == (
        "app", "team-a", frozenset({INFER}), False,
    )  # fmt: skip
    gw = keys.identify("Bearer sk-gw")
    assert gw is not None
    assert gw.gateway
    assert keys.identify("Bearer " + sha("sk-app")) is None
    plain = parse("k1\n").entries[0][1]
    assert (plain.scopes, plain.tenant) == (ALL_SCOPES, "default")


def test_forwarded_identity_only_from_the_gateways_key(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(KEYS)
    keys = ApiKeys(str(path))
    gw, app = keys.identify("Bearer sk-gw"), keys.identify("Bearer sk-app")
    assert gw is not None
    assert app is not None
    caller = gw.forwarded("ci-bot", "team-b")
    assert (caller.key_id, caller.tenant, caller.via, caller.scopes) == (
        "ci-bot", "team-b", "gw", gw.scopes,
    )  # fmt: skip
    assert gw.forwarded(None, "team-b") is gw  # the gateway's own call
    assert app.forwarded("ci-bot", "team-b") is app  # any other key: headers ignored
    assert ANONYMOUS.forwarded("ci-bot", "team-b") is ANONYMOUS  # no keys: nothing trusted
    assert ANONYMOUS.scopes == ALL_SCOPES  # no keys: open, as Ollama is


def test_rotation_and_a_broken_edit(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(KEYS)
    keys = ApiKeys(str(path))
    assert keys.check("Bearer sk-app")
    path.write_text(KEYS.replace(sha("sk-app"), sha("sk-app-2")))
    assert not keys.check("Bearer sk-app")
    assert keys.check("Bearer sk-app-2")
    path.write_text("keys:\n  - {id: x}\n")
    assert keys.check("Bearer sk-app-2")  # the last good file stays


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys:\n  - {id: a}\n", "`sha256` must be 64 hex digits"),
        ("keys:\n  - {id: a, sha256: " + "a" * 64 + ", scopes: [root]}\n", "unknown scope"),
        ("keys:\n  - {id: a, sha256: " + "a" * 64 + ", key: k}\n", "unknown field(s) ['key']"),
        ("keys: [\n", "not valid YAML"),
    ],
)
def test_invalid_key_files_say_why(text: str, message: str) -> None:
    with pytest.raises(KeyFileError) as err:
        parse(text)
    assert message in str(err.value)


def test_log_lines_name_the_caller_never_the_key() -> None:
    record = logging.LogRecord("pasture_runtime.access", logging.INFO, "", 0, "request", (), None)
    token = call_var.set(Call(Identity("ci-bot", "team-a", frozenset({INFER}))))
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        call_var.reset(token)
    assert (line["key_id"], line["tenant"]) == ("ci-bot", "team-a")
    assert "key_id" not in json.loads(JsonFormatter().format(record))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer a"}, "Bearer a"),
        ({"x-api-key": "b"}, "Bearer b"),  # the anthropic SDK's api_key
        ({"authorization": "Bearer a", "x-api-key": "b"}, "Bearer a"),  # Authorization wins
        ({}, None),
    ],
)
def test_credentials_from_authorization_or_x_api_key(
    headers: dict[str, str], expected: str | None
) -> None:
    assert credentials(headers) == expected
