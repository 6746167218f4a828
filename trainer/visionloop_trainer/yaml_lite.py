"""A parser for the small YAML subset of a dataset's ``data.yaml``, used only when PyYAML is
not importable (Debian's python3-torch pulls in python3-yaml; a pip-installed torch does not).

Supported: ``key: scalar`` lines, ``#`` comments, quoted strings, flow lists (``[a, b]``) and
flow mappings (``{0: a, 1: b}``), and one level of block nesting under a key, either a mapping
(``  0: scratch``) or a list (``  - scratch``). Anything else raises ValueError with the line.
It never evaluates anything.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and brackets."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_scalar(text: str) -> Any:
    s = text.strip()
    if s == "" or s in ("~", "null", "Null", "NULL"):
        return None
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        body = s[1:-1]
        return body.replace("''", "'") if s[0] == "'" else body.replace('\\"', '"')
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [] if not inner else [parse_scalar(p) for p in _split_top(inner, ",")]
    if s.startswith("{") and s.endswith("}"):
        inner = s[1:-1].strip()
        out: dict[Any, Any] = {}
        if inner:
            for item in _split_top(inner, ","):
                kv = _split_top(item, ":")
                if len(kv) < 2:
                    raise ValueError(f"expected 'key: value' in {{...}}, got {item.strip()!r}")
                out[parse_scalar(kv[0])] = parse_scalar(":".join(kv[1:]))
        return out
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    return s


def _split_key(line: str, lineno: int) -> tuple[str, str]:
    kv = _split_top(line, ":")
    if len(kv) < 2:
        raise ValueError(f"line {lineno}: expected 'key: value', got {line.strip()!r}")
    return kv[0].strip(), ":".join(kv[1:]).strip()


def loads(text: str) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    current_key: Any = None
    current_block: Any = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip() or line.strip() == "---":
            continue
        indent = len(line) - len(line.lstrip(" "))
        if "\t" in line[: indent + 1]:
            raise ValueError(f"line {lineno}: tabs are not allowed for indentation")
        body = line.strip()
        if indent == 0:
            key, value = _split_key(body, lineno)
            current_key = parse_scalar(key)
            if value == "":
                current_block = None
                root[current_key] = None
            else:
                root[current_key] = parse_scalar(value)
                current_key = None
            continue
        if current_key is None:
            raise ValueError(f"line {lineno}: unexpected indentation")
        if body.startswith("- ") or body == "-":
            if current_block is None:
                current_block = []
                root[current_key] = current_block
            if not isinstance(current_block, list):
                raise ValueError(f"line {lineno}: list item inside a mapping")
            current_block.append(parse_scalar(body[1:]))
        else:
            if current_block is None:
                current_block = {}
                root[current_key] = current_block
            if not isinstance(current_block, dict):
                raise ValueError(f"line {lineno}: mapping entry inside a list")
            key, value = _split_key(body, lineno)
            current_block[parse_scalar(key)] = parse_scalar(value)
    return root
