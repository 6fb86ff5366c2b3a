"""Keys with identities, pure parts: the key file (both formats), the model
matcher (table tests), hashed keys compared by hash, rotation without restart."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pasture_access.keyfile import KeyFileError, hash_key, parse
from pasture_gateway.auth import ApiKeys
from pasture_gateway.cli import main
from pasture_gateway.identity import ALL_SCOPES, INFER, MANAGE, METRICS, Limits, model_allowed


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS_YAML = f"""
# written by a platform team
keys:
  - id: ci-bot
    sha256: {sha("sk-ci")}
    tenant: team-a
    scopes: [infer]
    models: ["llama3*", "qwen2.5:7b"]
    limits: {{requestsPerMinute: 60, tokensPerMinute: 1000}}
  - id: admin
    sha256: {sha("sk-admin").upper()}
    tenant: platform
    scopes: [infer, manage, metrics]
tenants:
  team-a: {{requestsPerMinute: 600, priority: 2}}
  quiet: {{tokensPerMinute: 10}}
"""


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        (("*",), "anything:7b", True),
        (("llama3",), "llama3", True),
        (("llama3",), "LLaMA3:latest", True),
        (("llama3",), "llama3:8b", False),  # a bare name means :latest, as Ollama names go
        (("llama3:8b",), "llama3", False),
        (("llama3:*",), "llama3:8b", True),
        (("llama3:*",), "llama3.1:8b", False),
        (("llama3*",), "llama3.1:8b", True),
        (("llama3*",), "mistral", False),
        (("team-a/*",), "team-a/coder:1b", True),
        (("team-a/*",), "team-b/coder:1b", False),
        (("library/llama3",), "llama3", True),  # library/ prefixes dropped, as in routing
        (("qwen?.5:*",), "qwen2.5:7b", True),
        (("qwen2.5:7b", "llama3"), "llama3:latest", True),
        ((), "llama3", False),
    ],
)
def test_model_globs(patterns: tuple[str, ...], model: str, allowed: bool) -> None:
    assert model_allowed(patterns, model) is allowed


def test_yaml_entries_become_identities() -> None:
    book = parse(KEYS_YAML)
    by_id = {ident.key_id: (digest, ident) for digest, ident in book.entries}
    digest, ci = by_id["ci-bot"]
    assert digest == sha("sk-ci").encode()
    assert (ci.tenant, ci.scopes, ci.models) == (
        "team-a",
        frozenset({INFER}),
        ("llama3*", "qwen2.5:7b"),
    )
    assert ci.limits == Limits(requests_per_minute=60, tokens_per_minute=1000)
    assert ci.tenant_limits == Limits(requests_per_minute=600, priority=2)
    assert ci.allows("llama3:8b")
    assert not ci.allows("mistral")
    digest, admin = by_id["admin"]
    assert digest == sha("sk-admin").encode()  # upper-case hex accepted
    assert admin.scopes == ALL_SCOPES
    assert admin.models == ("*",)
    assert book.tenants == {"team-a", "platform", "quiet"}
    assert book.plain == ()  # no key is held anywhere


def test_plain_list_keeps_working_with_every_scope() -> None:
    book = parse("# comment\nk1\n\nk2\n")
    assert book.plain == ("k1", "k2")
    idents = [ident for _, ident in book.entries]
    assert all(i.scopes == ALL_SCOPES and i.tenant == "default" for i in idents)
    assert idents[0].key_id == "key-" + sha("k1")[:12]  # a hash prefix, never the key
    assert book.tenants == {"default"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys:\n  - id: a\n", "`sha256` must be 64 hex digits"),
        ("keys:\n  - sha256: " + "a" * 64 + "\n", "`id` is required"),
        ("keys: {a: 1}\n", "`keys` must be a list"),
        (
            f"keys:\n  - {{id: a, sha256: {'a' * 64}, scopes: [admin]}}\n",
            "unknown scope(s) ['admin']",
        ),
        (f"keys:\n  - {{id: a, sha256: {'a' * 64}, key: sk}}\n", "unknown field(s) ['key']"),
        (
            f"keys:\n  - {{id: a, sha256: {'a' * 64}}}\n  - {{id: a, sha256: {'b' * 64}}}\n",
            "listed twice",
        ),
        (
            f"keys:\n  - {{id: a, sha256: {'a' * 64}, limits: {{requestsPerMinute: 0}}}}\n",
            "requestsPerMinute: a whole number of at least 1",
        ),
        ("tenants:\n  a: {burst: 3}\n", "tenants.a: unknown field(s) ['burst']"),
        ("keys: [\n", "not valid YAML"),
        ("keys:\n  - {id: a, sha256: " + "1" * 64 + "}\n", "`sha256` must be 64 hex"),
    ],
)
def test_invalid_key_files_say_why(text: str, message: str) -> None:
    with pytest.raises(KeyFileError) as err:
        parse(text)
    assert message in str(err.value)


def test_hashed_keys_identify_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS_YAML)
    keys = ApiKeys(str(path))
    ci = keys.identify("Bearer sk-ci")
    assert ci is not None
    assert ci.key_id == "ci-bot"
    assert keys.identify("bearer  sk-admin ") is not None  # scheme case, spaces as before
    assert keys.identify("Bearer " + sha("sk-ci")) is None  # the hash is not a key
    assert keys.identify("Bearer sk-nope") is None
    assert keys.identify("Basic sk-ci") is None
    assert keys.identify(None) is None
    assert keys.current() == []  # hashed entries hold no key to present upstream


def test_rotation_without_restart_and_bad_files_keep_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS_YAML)
    keys = ApiKeys(str(path), env_keys="from-env")
    assert keys.identify("Bearer sk-ci") is not None
    rotated = KEYS_YAML.replace(sha("sk-ci"), sha("sk-ci-2"))
    path.write_text(rotated)
    assert keys.identify("Bearer sk-ci") is None
    ci = keys.identify("Bearer sk-ci-2")
    assert ci is not None
    assert ci.key_id == "ci-bot"
    path.write_text("keys: [\n")  # a broken edit: the previous keys stay
    assert keys.identify("Bearer sk-ci-2") is not None
    assert keys.identify("Bearer from-env") is not None
    path.unlink()  # a vanished file keeps them too
    assert keys.identify("Bearer sk-ci-2") is not None


def test_no_keys_means_anonymous_inference() -> None:
    who = ApiKeys(None).identify(None)
    assert who is not None
    assert who.key_id == "anonymous"
    assert who.may(INFER)
    assert who.may(METRICS)
    assert not who.may(MANAGE)


def test_hash_key_command(capsys: pytest.CaptureFixture[str]) -> None:
    main(["hash-key", "sk-ci"])
    assert capsys.readouterr().out.strip() == sha("sk-ci") == hash_key("sk-ci\n")
