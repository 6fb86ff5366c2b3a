"""docs/compatibility.md's response field table against live answers of the
runtime on the real engine: a field said to be sent (`yes`, `differs`) is in
the answer, one said `absent` is not, and the answer has no field without a
row. (`when set` fields are sent only when they apply.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.runtime.compat_doc import table
from tests.runtime.harness import MODEL, Served

pytestmark = pytest.mark.engine

SENT = {"yes", "differs"}


async def _answers(server: Served) -> dict[str, list[dict[str, Any]]]:
    """Each response type and the objects of it the runtime answered."""
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
        gen = await c.post(
            "/api/generate",
            json={"model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 3}},
        )
        chat = await c.post(
            "/api/chat",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
                "options": {"num_predict": 3},
            },
        )
        show = (await c.post("/api/show", json={"model": MODEL})).json()
        tags = (await c.get("/api/tags")).json()["models"]
        ps = (await c.get("/api/ps")).json()["models"]
        pull = (await c.post("/api/pull", json={"model": MODEL, "stream": False})).json()
    return {
        "GenerateResponse": [gen.json()],
        "ChatResponse": [chat.json()],
        "ShowResponse": [show],
        "ListModelResponse": tags,
        "ProcessModelResponse": ps,
        "ModelDetails": [show["details"], *(m["details"] for m in tags + ps)],
        "ProgressResponse": [pull],
    }


async def test_live_answers_match_the_response_table(server: Served) -> None:
    rows = table("Response fields")
    for name, answers in (await _answers(server)).items():
        documented = {r[1]: r[2] for r in rows if r[0] == name}
        assert answers, name
        for answer in answers:
            undocumented = set(answer) - set(documented)
            assert undocumented == set(), f"{name}: sent without a row"
            missing = {f for f, w in documented.items() if w in SENT} - set(answer)
            assert missing == set(), f"{name}: said sent, not sent"
            sent_absent = {f for f, w in documented.items() if w == "absent"} & set(answer)
            assert sent_absent == set(), f"{name}: said absent, sent"
