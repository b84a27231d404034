"""Validating a TOML definition file: a declared schema, then small rules, every problem at once.

Mapping files (:mod:`kpis.mapping`) and target profiles (:mod:`kpis.targets`) are
checked the same way. Their shape (which keys, which types, which words) is a JSON
Schema (Draft 2020-12) written as data beside the loader; what a schema cannot say (a
regular expression compiles, a time zone exists, a column is in the canonical table,
green comes before amber) is a rule function that returns :class:`Problem` s. The user
gets all problems in one pass, each with the line the TOML parser found for it
(:mod:`kpis.tomlfile`).

A schema node may carry messages for people, under keys JSON Schema ignores:

- ``x-message``: the message when the value at this node is wrong (type, enum, pattern,
  length...). ``{key}`` is the key, ``{value}`` the value found, ``{hint}`` a did-you-mean for
  a value not in an ``enum``.
- ``x-unknown``: the message for a key ``additionalProperties`` does not allow, with
  ``{key}``, ``{hint}`` (a did-you-mean suggestion) and ``{allowed}`` (the keys allowed).
- ``x-required``: the message when a ``required`` key is missing, with ``{missing}``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import jsonschema

_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where (a key path into the TOML data) and why."""

    path: tuple
    message: str


def did_you_mean(word, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check(schema: dict, data) -> list[Problem]:
    """Every place where ``data`` does not fit ``schema``, in words."""
    validator = _VALIDATORS.get(id(schema))
    if validator is None:  # the schemas are checked against the meta-schema by the tests (seconds, not per load)
        validator = _VALIDATORS[id(schema)] = jsonschema.Draft202012Validator(schema)
    out: list[Problem] = []
    for error in validator.iter_errors(data):
        out += _explain(error)
    return list(dict.fromkeys(out))


def _key_of(path: tuple) -> str:
    return str(path[-1]) if path else ""


def _fill(template: str, **values) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def _explain(error: jsonschema.ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    node = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind in ("anyOf", "oneOf") and error.context:
        # follow the branch written for this kind of value (a table, a list, text), so an
        # unknown key inside a column's table is named, not "a column is text or a table"
        branches = error.validator_value
        fitting = {i for i, b in enumerate(branches) if _same_type(b, error.instance)}
        if len(fitting) == 1:
            (i,) = fitting
            deeper = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == i]
            if deeper:
                return [p for e in deeper for p in _explain(e)]
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(node.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        template = node.get("x-unknown", "unknown key {key!r}{hint}; expected one of {allowed}")
        return [Problem(path + (k,), _fill(template, key=k, hint=did_you_mean(k, allowed), allowed=", ".join(allowed)))
                for k in extra]
    if kind == "required":
        missing = error.validator_value
        missing = next((k for k in missing if k not in error.instance), missing[0])
        template = node.get("x-required", "missing {missing!r}")
        return [Problem(path, _fill(template, missing=missing, key=_key_of(path)))]
    template = node.get("x-message")
    if template is None:
        return [Problem(path, f"{_key_of(path) or 'the file'}: {error.message}")]
    hint = did_you_mean(error.instance, error.validator_value) if kind == "enum" else ""
    return [Problem(path, _fill(template, key=_key_of(path), value=error.instance, hint=hint))]


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _same_type(branch: dict, instance) -> bool:
    """Whether a schema branch is the one for this kind of value (its declared type matches)."""
    t = branch.get("type") if isinstance(branch, dict) else None
    if t is None:
        return False
    types = t if isinstance(t, list) else [t]
    for name in types:
        if name in _TYPES and isinstance(instance, _TYPES[name]) and not (name != "boolean" and isinstance(instance, bool)):
            return True
        if name in ("integer", "number") and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            return True
    return False


def report(label: str, problems: list[Problem], line_of) -> str:
    """The problems as text, one a line, sorted by line: ``file, line 4: unknown key 'form' ...``."""
    rows = []
    for p in problems:
        line = line_of(p.path)
        rows.append((line or 0, f"{label}, line {line}: {p.message}" if line else f"{label}: {p.message}"))
    rows.sort(key=lambda r: r[0])
    text = [r[1] for r in rows]
    if len(text) > 1:
        return f"{len(text)} problems in {label}:\n" + "\n".join(text)
    return text[0]
