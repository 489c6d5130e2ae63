"""Checks a tool's arguments against its JSON schema: names, required ones, and types."""

from __future__ import annotations

from typing import Any

from workbench.errors import UserInputError


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path)


def schema_problems(schema: dict[str, Any], args: dict[str, Any]) -> list[str]:
    """What is wrong with `args` for a tool whose parameters are `schema`; empty if nothing.

    Unknown names are refused even when the schema does not say `additionalProperties:
    false`: a reviewer's typo would otherwise be dropped silently by the tool.
    """
    if not isinstance(args, dict):
        return ["arguments must be a JSON object"]
    known = schema.get("properties") or {}
    problems: list[str] = []
    unknown = sorted(set(args) - set(known))
    missing = sorted(set(schema.get("required") or []) - set(args))
    if unknown:
        problems.append(f"no argument {', '.join(map(repr, unknown))}")
    if missing:
        problems.append(f"{', '.join(map(repr, missing))} missing")
    problems.extend(_type_problems(schema, args))
    return problems


def _type_problems(schema: dict[str, Any], args: dict[str, Any]) -> list[str]:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        errors = sorted(cls(schema).iter_errors(args), key=lambda e: list(e.absolute_path))
    except jsonschema.exceptions.SchemaError:
        return []  # a tool with an unusable schema checks its own arguments when it runs
    out = []
    for error in errors:
        # names and presence are reported above, in words that name the tool's arguments
        if error.validator in ("required", "additionalProperties") and not error.absolute_path:
            continue
        where = _where(error.absolute_path)
        out.append(f"{where}: {error.message}" if where else error.message)
    return out


def check_tool_args(tool_name: str, schema: dict[str, Any], args: dict[str, Any]) -> None:
    """Raise UserInputError naming every problem of `args` for the tool `tool_name`."""
    problems = schema_problems(schema, args)
    if problems:
        known = ", ".join(schema.get("properties") or {}) or "no arguments"
        raise UserInputError(f"{tool_name} takes {known}: {'; '.join(problems)}")
