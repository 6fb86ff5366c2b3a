"""What Ollama hands its templates (template/template.go): messages and tools
converted to its template types (templateMessage, templateTool, ...), with
the String() methods and JSON shapes those Go types have. Inputs are the
Ollama API's JSON shapes (dicts as the request carried them)."""

from __future__ import annotations

from typing import Any

from . import gofmt
from .values import Map, Pointer, Slice, Struct, Tag


def go_any(value: Any) -> Any:
    """A JSON value as Go decodes it into `any`: numbers are float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return Map({k: go_any(v) for k, v in value.items()})
    if isinstance(value, list):
        return Slice([go_any(v) for v in value])
    return value


def _json_string(value: Any) -> str:
    return gofmt.marshal(value)


def _json_or_empty_object(value: Any) -> str:
    return "{}" if getattr(value, "nil", False) else gofmt.marshal(value)


def _property_type(value: Any) -> Slice:
    types = [value] if isinstance(value, str) else list(value or [])

    def string(pt: Slice) -> str:
        if len(pt) == 1:
            return str(pt[0])
        return gofmt.format_value(list(pt), top=False) if pt else ""

    def marshal(pt: Slice) -> str:
        return gofmt.marshal(pt[0]) if len(pt) == 1 else gofmt.marshal(list(pt))

    return Slice(types, "api.PropertyType", nil=not types, stringer=string, marshaler=marshal)


_PROPERTY_TAGS = {
    "AnyOf": Tag("anyOf", True),
    "Type": Tag("type", True),
    "Items": Tag("items", True),
    "Description": Tag("description", True),
    "Enum": Tag("enum", True),
    "Properties": Tag("properties", True),
}


def tool_property(raw: dict[str, Any]) -> Struct:
    """api.ToolProperty from its JSON."""
    nested = raw.get("properties")
    return Struct(
        "api.ToolProperty",
        {
            "AnyOf": Slice(
                [tool_property(p) for p in raw.get("anyOf") or []],
                "[]api.ToolProperty",
                nil=not raw.get("anyOf"),
            ),
            "Type": _property_type(raw.get("type")),
            "Items": go_any(raw.get("items")),
            "Description": str(raw.get("description") or ""),
            "Enum": Slice([go_any(v) for v in raw.get("enum") or []], nil=not raw.get("enum")),
            "Properties": _ordered_properties(nested)
            if nested is not None
            else Pointer("*api.ToolPropertiesMap"),
        },
        _PROPERTY_TAGS,
    )


def _ordered_properties(raw: dict[str, Any]) -> Map:
    """*api.ToolPropertiesMap: insertion-ordered in JSON and printing."""
    return Map(
        {k: tool_property(v) for k, v in raw.items()},
        "*api.ToolPropertiesMap",
        stringer=_json_string,
        ordered=True,
    )


def _tool(raw: dict[str, Any]) -> Struct:
    fn = raw.get("function") or {}
    params = fn.get("parameters") or {}
    props = params.get("properties")
    required = params.get("required")
    parameters = Struct(
        "template.templateToolFunctionParameters",
        {
            "Type": str(params.get("type") or ""),
            "Defs": go_any(params.get("$defs")),
            "Items": go_any(params.get("items")),
            "Required": Slice(required or [], "[]string", nil=not required),
            "Properties": Map(
                {k: tool_property(v) for k, v in (props or {}).items()},
                "template.templateProperties",
                nil=props is None,
                stringer=_json_or_empty_object,
            ),
        },
        {
            "Type": Tag("type"),
            "Defs": Tag("$defs", True),
            "Items": Tag("items", True),
            "Required": Tag("required", True),
            "Properties": Tag("properties"),
        },
    )
    function = Struct(
        "template.templateToolFunction",
        {
            "Name": str(fn.get("name") or ""),
            "Description": str(fn.get("description") or ""),
            "Parameters": parameters,
        },
        {"Name": Tag("name"), "Description": Tag("description"), "Parameters": Tag("parameters")},
    )
    return Struct(
        "template.templateTool",
        {
            "Type": str(raw.get("type") or ""),
            "Items": go_any(raw.get("items")),
            "Function": function,
        },
        {"Type": Tag("type"), "Items": Tag("items", True), "Function": Tag("function")},
        stringer=_json_string,
    )


def tools(raw: list[dict[str, Any]] | None) -> Slice:
    """template.templateTools (nil without tools; String() is its JSON)."""
    return Slice(
        [_tool(t) for t in raw or []],
        "template.templateTools",
        nil=raw is None,
        stringer=_json_string,
    )


def _tool_call(raw: dict[str, Any]) -> Struct:
    fn = raw.get("function") or {}
    args = fn.get("arguments")
    arguments = Map(
        {k: go_any(v) for k, v in (args or {}).items()},
        "template.templateArgs",
        nil=args is None,
        stringer=_json_or_empty_object,
    )
    function = Struct(
        "template.templateToolCallFunction",
        {
            "Index": int(fn.get("index") or 0),
            "Name": str(fn.get("name") or ""),
            "Arguments": arguments,
        },
    )
    return Struct(
        "template.templateToolCall", {"ID": str(raw.get("id") or ""), "Function": function}
    )


def message(raw: dict[str, Any]) -> Struct:
    """*template.templateMessage from an Ollama message."""
    calls = raw.get("tool_calls") or []
    images = raw.get("images") or []
    return Struct(
        "*template.templateMessage",
        {
            "Role": str(raw.get("role") or ""),
            "Content": str(raw.get("content") or ""),
            "Thinking": str(raw.get("thinking") or ""),
            "Images": Slice(images, "[]api.ImageData", nil=not images),
            "ToolCalls": Slice(
                [_tool_call(c) for c in calls], "[]template.templateToolCall", nil=not calls
            ),
            "ToolName": str(raw.get("tool_name") or ""),
            "ToolCallID": str(raw.get("tool_call_id") or ""),
        },
    )


def to_typescript_type(value: Any) -> str:
    """Ollama's toTypeScriptType function (api.ToolProperty.ToTypeScriptType)."""
    if not isinstance(value, Struct) or value.type_name != "api.ToolProperty":
        return "any"
    any_of = value.fields["AnyOf"]
    if any_of:
        return " | ".join(to_typescript_type(p) for p in any_of)
    types = value.fields["Type"]
    if not types:
        return "any"
    return " | ".join(_TS_TYPES.get(t, "any") for t in types)


_TS_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}
