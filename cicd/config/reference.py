"""The stack-config reference (`docs/stack-config.md`), generated from the config models.

`python -m cicd.config.reference > docs/stack-config.md` writes one section per top-level key of
the `databricks-cicd:` namespace and one table per object: each key as written in YAML, its
type, its default, and what it is for (the comment above the field in the model's source, or
the class docstring). A test keeps the file current, so the reference is never written twice.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from cicd.config.base import NAMESPACE
from cicd.config.stack import StackConfig

FIELD_LINE = re.compile(r"^\s+(\w+):\s")


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment: the `#` lines right above its declaration in the class body."""
    found: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        comment: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#"):
                comment.append(stripped.lstrip("#").strip())
                continue
            match = FIELD_LINE.match(line)
            if match and comment:
                found[match.group(1)] = " ".join(comment)
            comment = []
    return found


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[1])}" if len(args) == 2 else "map"
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        if issubclass(annotation, Enum):
            return " \\| ".join(repr(m.value) for m in annotation)
        return {"str": "string", "int": "integer", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "`[]`" if value == [] else "`{}`" if value == {} else "(defaults below)"
    if field.default is None or field.default is PydanticUndefined:
        return "not set"
    value = field.default.value if isinstance(field.default, Enum) else field.default
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((inspect.getdoc(model) or "").split())


def render() -> str:
    lines = [
        "# Stack config reference",
        "",
        "Generated from the config models by `python -m cicd.config.reference >"
        " docs/stack-config.md` (a test checks it is current): do not edit by hand.",
        "",
        f"Every key lives under `{NAMESPACE}:` in `Pulumi.<stack>.yaml`. Keys are camelCase;",
        "an unknown key is an error naming it. Values are checked before anything deploys,",
        "every problem at once, each with its key, the value seen and the fix.",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    queue: list[type[BaseModel]] = [StackConfig]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        comments = _field_comments(model)
        title = f"`{NAMESPACE}:` (top-level keys)" if model is StackConfig else model.__name__
        anchor = model.__name__.lower()
        lines += [f'<a id="{anchor}"></a>', f"## {title}", ""]
        if _doc(model):
            lines += [_doc(model), ""]
        lines += ["| key | type | default | what it is for |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            note = comments.get(name, "").replace("|", "\\|")
            lines.append(
                f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {note} |"
            )
            for nested in _models(field.annotation):
                if nested not in seen and nested not in queue:
                    queue.append(nested)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
