"""The safe condition grammar of search-space ``when`` entries, parsed by hand (never ``eval``)::

    cond   := clause ("and" clause)*
    clause := NAME | "not" NAME | NAME OP LITERAL | NAME ["not"] "in" "[" LITERAL, ... "]"
    OP     := == | != | < | <= | > | >=
    LITERAL:= number | 'text' | "text" | true | false | null | bare_word (a string)

A param whose own condition was false is absent: ``NAME`` is then false, ``not NAME`` true
and every comparison false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from automl.config.errors import ConfigError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op><=|>=|==|!=|<|>)
      | (?P<punct>[\[\],])
      | (?P<str>'[^']*'|"[^"]*")
      | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_KEYWORD_LITERALS = {"true": True, "True": True, "false": False, "False": False,
                     "null": None, "None": None, "~": None}
_MISSING = object()


@dataclass(frozen=True)
class Clause:
    name: str
    op: str  # "truthy", "not", one of _OPS, "in", "not in"
    value: Any = None

    def holds(self, values: Mapping[str, Any]) -> bool:
        v = values.get(self.name, _MISSING)
        if self.op == "truthy":
            return v is not _MISSING and bool(v)
        if self.op == "not":
            return v is _MISSING or not v
        if v is _MISSING:
            return False
        if self.op in ("in", "not in"):
            inside = any(same_value(v, x) for x in self.value)
            return inside if self.op == "in" else not inside
        if self.op in ("==", "!="):
            return same_value(v, self.value) == (self.op == "==")
        try:
            return bool(_OPS[self.op](v, self.value))
        except TypeError:
            return False


def same_value(a: Any, b: Any) -> bool:
    # true must not equal 1 and 1 == 1.0: compare bools only with bools.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


@dataclass(frozen=True)
class Condition:
    """A parsed ``when`` expression: a conjunction of clauses."""

    text: str
    clauses: tuple[Clause, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        return all(c.holds(values) for c in self.clauses)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.clauses)


def parse_condition(text: Any, field: str = "when", source: str | None = None) -> Condition:
    """Parse a ``when`` expression with the grammar in the module docstring (no ``eval``)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(field, f"expected a condition string, got {text!r}", source)
    tokens: list[tuple[str, str]] = []
    pos, s = 0, text.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None or m.end() == pos:
            raise ConfigError(field, f"cannot parse condition {text!r} at {s[pos:pos + 12]!r} "
                                     "(allowed: name, not name, name <op> literal, "
                                     "name in [..], joined by 'and')", source)
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1

    def fail(why: str) -> ConfigError:
        return ConfigError(field, f"cannot parse condition {text!r}: {why}", source)

    def literal(i: int) -> tuple[Any, int]:
        if i >= len(tokens):
            raise fail("expected a value")
        kind, tok = tokens[i]
        if kind == "num":
            num = float(tok)
            return (int(tok) if re.fullmatch(r"[-+]?\d+", tok) else num), i + 1
        if kind == "str":
            return tok[1:-1], i + 1
        if kind == "word":
            return _KEYWORD_LITERALS.get(tok, tok), i + 1
        raise fail(f"expected a value, got {tok!r}")

    clauses: list[Clause] = []
    i = 0
    while True:
        if i >= len(tokens):
            raise fail("expected a name")
        negate = False
        if tokens[i] == ("word", "not"):
            negate, i = True, i + 1
        if i >= len(tokens) or tokens[i][0] != "word" or tokens[i][1] in ("and", "not", "in"):
            raise fail("expected a param name")
        name = tokens[i][1]
        i += 1
        nxt = tokens[i] if i < len(tokens) else None
        if negate:
            clauses.append(Clause(name, "not"))
        elif nxt is None or nxt == ("word", "and"):
            clauses.append(Clause(name, "truthy"))
        elif nxt[0] == "op":
            value, i = literal(i + 1)
            clauses.append(Clause(name, nxt[1], value))
        elif nxt in (("word", "in"), ("word", "not")):
            op = "in"
            if nxt == ("word", "not"):
                if i + 1 >= len(tokens) or tokens[i + 1] != ("word", "in"):
                    raise fail("expected 'in' after 'not'")
                op, i = "not in", i + 1
            i += 1
            if i >= len(tokens) or tokens[i] != ("punct", "["):
                raise fail("expected '[' after 'in'")
            i += 1
            items: list[Any] = []
            while True:
                if i < len(tokens) and tokens[i] == ("punct", "]") and not items:
                    i += 1
                    break
                item, i = literal(i)
                items.append(item)
                if i < len(tokens) and tokens[i] == ("punct", ","):
                    i += 1
                    continue
                if i < len(tokens) and tokens[i] == ("punct", "]"):
                    i += 1
                    break
                raise fail("expected ',' or ']' in the list")
            clauses.append(Clause(name, op, tuple(items)))
        else:
            raise fail(f"unexpected {nxt[1]!r}")
        if i >= len(tokens):
            break
        if tokens[i] != ("word", "and"):
            raise fail(f"expected 'and', got {tokens[i][1]!r}")
        i += 1
    return Condition(text, tuple(clauses))
