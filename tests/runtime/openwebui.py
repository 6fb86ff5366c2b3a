"""Request shapes Open WebUI (0.12) sends to an Ollama server, rebuilt for tests.

Open WebUI offers its built-in tools with every chat (36 function tools,
about 25 KB of JSON), passes the user's `options` and `keep_alive`, and runs
background chats of its own after a reply (a title, tags, follow-ups): one
user message holding a task and the chat history. The tool names are Open
WebUI's; the descriptions are written here at a similar length."""

from __future__ import annotations

from typing import Any

TOOL_NAMES = (
    "search_web", "fetch_url", "query_knowledge_files", "query_knowledge_bases",
    "list_knowledge_bases", "view_knowledge_file", "search_notes", "view_note",
    "write_note", "replace_note_content", "search_chats", "view_chat",
    "get_current_timestamp", "calculate_timestamp", "generate_image", "edit_image",
    "execute_code", "search_memories", "add_memory", "replace_memory_content",
    "delete_memory", "list_memories", "list_channels", "search_channels",
    "view_channel_messages", "send_channel_message", "list_models", "view_model",
    "list_tools", "view_tool", "list_files", "view_file", "search_files",
    "create_folder", "move_chat_to_folder", "get_weather",
)  # fmt: skip

_DESCRIPTION = (
    "Use this tool when the user asks for {what}. It runs inside Open WebUI on the "
    "user's behalf and returns a JSON result to summarise for the user. Call it only "
    "when the answer needs data that is not already in the conversation."
)
_PARAMETER = "The {name} for this call, short and specific."


def tool(name: str) -> dict[str, Any]:
    """One function tool in the shape Open WebUI sends."""
    what = name.replace("_", " ")
    params = ("query", "limit", "scope")
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": _DESCRIPTION.format(what=what),
            "parameters": {
                "type": "object",
                "properties": {
                    p: {
                        "type": "integer" if p == "limit" else "string",
                        "description": _PARAMETER.format(name=p),
                    }
                    for p in params
                },
                "required": ["query"],
            },
        },
    }


TOOLS: list[dict[str, Any]] = [tool(name) for name in TOOL_NAMES]

# The options a user's settings add to every chat (Open WebUI's "Advanced Params").
OPTIONS: dict[str, Any] = {"temperature": 0.8, "top_p": 0.9, "seed": 7}
KEEP_ALIVE = "5m"


def title_task(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The background chat that names a conversation (Open WebUI's title task)."""
    lines = "\n".join(f"{m['role'].upper()}: {m['content']}" for m in history[-4:])
    prompt = (
        "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the "
        "chat history.\n### Guidelines:\n- The title should clearly represent the main "
        "theme or subject of the conversation.\n- Write the title in the chat's primary "
        'language.\n### Output:\nJSON format: { "title": "your concise title here" }\n'
        f"### Chat History:\n<chat_history>\n{lines}\n</chat_history>"
    )
    return [{"role": "user", "content": prompt}]


def tags_task(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The background chat that tags a conversation (Open WebUI's tags task)."""
    lines = "\n".join(f"{m['role'].upper()}: {m['content']}" for m in history[-6:])
    prompt = (
        "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat "
        "history, along with 1-3 more specific subtopic tags.\n### Output:\nJSON format: "
        '{ "tags": ["tag1", "tag2", "tag3"] }\n'
        f"### Chat History:\n<chat_history>\n{lines}\n</chat_history>"
    )
    return [{"role": "user", "content": prompt}]
