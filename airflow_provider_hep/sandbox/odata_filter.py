"""Parse and evaluate the OData ``$filter`` subset the sandbox understands.

Grammar (keywords are lower case, as in OData v4)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := FIELD ("eq"|"ne"|"gt"|"ge"|"lt"|"le") LITERAL
    LITERAL    := 'single-quoted string' ('' escapes a quote)
                | unquoted ISO-8601 datetime with offset (2026-01-01T00:00:00Z, .fff, +00:00)

``lastModified`` compares to datetime literals, every other field to string literals. Besides
the predicate, :func:`compile_filter` derives a conservative ``[lo, hi)`` interval of epoch
seconds on ``lastModified`` so that callers can bisect a sorted index to the candidate range.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .timeutil import parse_iso_us

DATETIME_FIELD = "lastModified"

Record = dict[str, Any]
Predicate = Callable[[int, str, Callable[[], Record]], bool]


class FilterError(ValueError):
    """Reject a ``$filter`` expression; the message names the offending text."""


@dataclass(frozen=True)
class Cmp:
    """Compare one field with a literal."""

    field: str
    op: str
    value: int | str
    is_datetime: bool


@dataclass(frozen=True)
class BoolOp:
    """Join two expressions with ``and`` / ``or``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """Negate an expression."""

    operand: Node


Node = Cmp | BoolOp | Not

_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)|(?P<lparen>\()|(?P<rparen>\))"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))(?=[\s)]|$)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
)
_BAD_LITERAL_RE = re.compile(r"[\w'\"][\w:.+\-'\"]*(?: \d[\w:.+\-]*)?")
_HINT = (
    "datetime literals must be unquoted ISO-8601 with an offset, e.g. 2026-01-01T00:00:00Z"
    " (a '+' left unencoded in a URL query decodes to a space; encode it as %2B)"
)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """Split a filter into ``(kind, text, position)`` tokens, rejecting unknown text."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None or (match.lastgroup == "ident" and text[pos].isdigit()):
            bad = _BAD_LITERAL_RE.match(text, pos)
            snippet = bad.group(0) if bad else text[pos : pos + 30]
            if snippet.startswith("'"):
                raise FilterError(f"unterminated string literal {snippet!r} at position {pos}")
            raise FilterError(f"malformed literal {snippet!r} at position {pos}; {_HINT}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group(0), pos))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive-descent parser over the token list."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise FilterError(f"unexpected end of $filter {self.text!r}")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "ident" and token[1] == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token is not None:
            raise FilterError(f"unexpected {token[1]!r} at position {token[2]}")
        return node

    def expr(self) -> Node:
        node = self.and_expr()
        while self.keyword("or"):
            node = BoolOp("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while self.keyword("and"):
            node = BoolOp("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        token = self.take()
        if token[0] == "lparen":
            node = self.expr()
            closing = self.take()
            if closing[0] != "rparen":
                raise FilterError(f"expected ')' at position {closing[2]}, got {closing[1]!r}")
            return node
        if token[0] != "ident":
            raise FilterError(f"expected a field name at position {token[2]}, got {token[1]!r}")
        return self.comparison(token[1])

    def comparison(self, field: str) -> Cmp:
        op_token = self.take()
        if op_token[0] != "ident" or op_token[1] not in _OPS:
            raise FilterError(
                f"expected eq/ne/gt/ge/lt/le after {field!r} at position {op_token[2]},"
                f" got {op_token[1]!r}"
            )
        literal = self.take()
        if literal[0] == "string":
            return Cmp(field, op_token[1], literal[1][1:-1].replace("''", "'"), False)
        if literal[0] == "datetime":
            try:
                return Cmp(field, op_token[1], parse_iso_us(literal[1]), True)
            except ValueError as exc:
                raise FilterError(f"malformed literal {literal[1]!r}: {exc}") from None
        raise FilterError(f"malformed literal {literal[1]!r} at position {literal[2]}; {_HINT}")


def parse_filter(text: str) -> Node:
    """Parse ``text`` into an AST, raising :class:`FilterError` on bad syntax or literals."""
    return _Parser(text).parse()


Interval = tuple[int | None, int | None]


def _seconds_bounds(op: str, us: int) -> Interval:
    """Return the ``[lo, hi)`` epoch-second interval for ``lastModified <op> us``."""
    ceil_s, floor_s = -(-us // 1_000_000), us // 1_000_000
    if op == "ge":
        return ceil_s, None
    if op == "gt":
        return floor_s + 1, None
    if op == "lt":
        return None, ceil_s
    if op == "le":
        return None, floor_s + 1
    if op == "eq":
        return (floor_s, floor_s + 1) if us % 1_000_000 == 0 else (0, 0)
    return None, None


def _intersect(a: Interval, b: Interval) -> Interval:
    lows = [x for x in (a[0], b[0]) if x is not None]
    highs = [x for x in (a[1], b[1]) if x is not None]
    return (max(lows) if lows else None, min(highs) if highs else None)


def _hull(a: Interval, b: Interval) -> Interval:
    lo = None if a[0] is None or b[0] is None else min(a[0], b[0])
    hi = None if a[1] is None or b[1] is None else max(a[1], b[1])
    return lo, hi


def interval_of(node: Node) -> tuple[Interval, bool]:
    """Return a conservative lastModified interval and whether it is exactly the predicate."""
    if isinstance(node, Cmp):
        if node.field == DATETIME_FIELD:
            return _seconds_bounds(node.op, int(node.value)), node.op != "ne"
        return (None, None), False
    if isinstance(node, Not):
        return (None, None), False
    left, left_exact = interval_of(node.left)
    right, right_exact = interval_of(node.right)
    if node.op == "and":
        return _intersect(left, right), left_exact and right_exact
    return _hull(left, right), False


def _compile_cmp(node: Cmp) -> Predicate:
    if node.field == DATETIME_FIELD:
        lo, hi = _seconds_bounds(node.op, int(node.value))
        if node.op == "ne":
            eq_lo, eq_hi = _seconds_bounds("eq", int(node.value))
            return lambda lm, rid, get: not eq_lo <= lm < eq_hi  # type: ignore[operator]
        low = -(2**62) if lo is None else lo
        high = 2**62 if hi is None else hi
        return lambda lm, rid, get: low <= lm < high
    fn, value = _OPS[node.op], node.value
    if node.field == "id":
        return lambda lm, rid, get: fn(rid, value)
    field = node.field

    def compare_field(lm: int, rid: str, get: Callable[[], Record]) -> bool:
        actual = get().get(field)
        if actual is None:
            return node.op == "ne"
        return bool(fn(str(actual), value))

    return compare_field


def _compile(node: Node) -> Predicate:
    if isinstance(node, Cmp):
        return _compile_cmp(node)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda lm, rid, get: not inner(lm, rid, get)
    left, right = _compile(node.left), _compile(node.right)
    if node.op == "and":
        return lambda lm, rid, get: left(lm, rid, get) and right(lm, rid, get)
    return lambda lm, rid, get: left(lm, rid, get) or right(lm, rid, get)


def _check_fields(node: Node, fields: frozenset[str]) -> None:
    if isinstance(node, Cmp):
        if node.field not in fields:
            known = ", ".join(sorted(fields))
            raise FilterError(f"unknown field {node.field!r} in $filter (known: {known})")
        if node.is_datetime != (node.field == DATETIME_FIELD):
            want = "an unquoted datetime" if node.field == DATETIME_FIELD else "a quoted string"
            raise FilterError(f"field {node.field!r} must be compared with {want} literal")
    elif isinstance(node, Not):
        _check_fields(node.operand, fields)
    else:
        _check_fields(node.left, fields)
        _check_fields(node.right, fields)


@dataclass(frozen=True)
class CompiledFilter:
    """Hold a predicate plus its lastModified interval ``[lo, hi)`` in epoch seconds."""

    predicate: Predicate | None
    lo: int | None
    hi: int | None
    exact: bool

    def matches(self, lm: int, rid: str, get: Callable[[], Record]) -> bool:
        """Return whether a record passes the filter (interval and predicate)."""
        if (self.lo is not None and lm < self.lo) or (self.hi is not None and lm >= self.hi):
            return False
        return self.predicate is None or self.predicate(lm, rid, get)


MATCH_ALL = CompiledFilter(None, None, None, True)


@lru_cache(maxsize=512)
def compile_filter(text: str | None, fields: frozenset[str]) -> CompiledFilter:
    """Compile a ``$filter`` string for a collection with the given field names."""
    if text is None or not text.strip():
        return MATCH_ALL
    node = parse_filter(text)
    _check_fields(node, fields)
    (lo, hi), exact = interval_of(node)
    return CompiledFilter(None if exact else _compile(node), lo, hi, exact)
