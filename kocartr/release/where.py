"""A safe `--where` for `kocartr analyze`: a boolean expression over ADSL / ADTTE columns, nothing else.

Grammar (case-insensitive keywords)::

    expr      := term (OR term)*
    term      := factor (AND factor)*
    factor    := NOT factor | '(' expr ')' | predicate
    predicate := COLUMN op literal | COLUMN [NOT] IN '(' literal (',' literal)* ')'
               | COLUMN IS [NOT] NULL | COLUMN [NOT] BETWEEN literal AND literal
    op        := = | != | <> | < | <= | > | >=
    literal   := 'text' ('' escapes a quote) | number

The expression is parsed into tokens, every column is checked against the release's ADSL / ADTTE columns and
every literal against the column's type, and SQL is re-emitted from the parse: columns quoted, every literal a
bound parameter. No text of the user's reaches the database as SQL, so nothing but a filter can run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN"}
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL", "UBIGINT")


class WhereError(ValueError):
    """A --where that is not a boolean expression over ADSL / ADTTE columns (one line)."""


@dataclass(frozen=True)
class Token:
    kind: str  # str, num, op, punct, word, kw
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = len(text[pos:]) - len(text[pos:].lstrip()) + pos
            raise WhereError(f"--where: unexpected {text[start : start + 10]!r} at character {start + 1}")
        kind = m.lastgroup or ""
        value, start = m.group(kind), m.start(kind)
        if kind == "word" and value.upper() in KEYWORDS:
            kind, value = "kw", value.upper()
        out.append(Token(kind, value, start))
        pos = m.end()
    return out


@dataclass
class Where:
    """Parsed and checked: `sql` uses quoted column names and ? placeholders bound to `params`."""

    sql: str
    params: list[Any] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)


class _Parser:
    def __init__(self, tokens: list[Token], columns: dict[str, str]) -> None:
        self.toks, self.i = tokens, 0
        self.columns = {c.upper(): (c, t.upper()) for c, t in columns.items()}
        self.params: list[Any] = []
        self.used: set[str] = set()

    def peek(self, kind: str | None = None, text: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        t = self.toks[self.i]
        return (kind is None or t.kind == kind) and (text is None or t.text == text)

    def take(self, kind: str, text: str | None = None, what: str = "") -> Token:
        if not self.peek(kind, text):
            got = self.toks[self.i].text if self.i < len(self.toks) else "the end"
            raise WhereError(f"--where: expected {what or text or kind}, got {got!r}")
        self.i += 1
        return self.toks[self.i - 1]

    def expr(self) -> str:
        parts = [self.term()]
        while self.peek("kw", "OR"):
            self.i += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def term(self) -> str:
        parts = [self.factor()]
        while self.peek("kw", "AND"):
            self.i += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def factor(self) -> str:
        if self.peek("kw", "NOT"):
            self.i += 1
            return f"(NOT {self.factor()})"
        if self.peek("punct", "("):
            self.i += 1
            inner = self.expr()
            self.take("punct", ")", "')'")
            return inner
        return self.predicate()

    def column(self) -> tuple[str, str]:
        tok = self.take("word", what="an ADSL/ADTTE column")
        if tok.text.upper() not in self.columns:
            raise WhereError(f"--where: unknown column {tok.text!r} (only ADSL and ADTTE columns; see columns.csv)")
        name, dtype = self.columns[tok.text.upper()]
        self.used.add(name)
        return f'"{name}"', dtype

    def literal(self, dtype: str) -> str:
        if self.peek("str"):
            text = self.take("str").text[1:-1].replace("''", "'")
            if dtype.startswith(NUMERIC):
                raise WhereError(f"--where: {text!r} is text but the column is numeric ({dtype})")
            self.params.append(text)
            return "CAST(? AS DATE)" if dtype == "DATE" else "?"
        if self.peek("num"):
            text = self.take("num").text
            if not dtype.startswith(NUMERIC):
                raise WhereError(f"--where: {text} is a number but the column is {dtype}: quote it")
            self.params.append(float(text) if "." in text else int(text))
            return "?"
        got = self.toks[self.i].text if self.i < len(self.toks) else "the end"
        raise WhereError(f"--where: expected a 'quoted text' or a number, got {got!r}")

    def predicate(self) -> str:
        col, dtype = self.column()
        if self.peek("op"):
            op = self.take("op").text
            return f"({col} {'<>' if op == '!=' else op} {self.literal(dtype)})"
        if self.peek("kw", "IS"):
            self.i += 1
            neg = self.peek("kw", "NOT") and bool(self.take("kw", "NOT"))
            self.take("kw", "NULL")
            return f"({col} IS {'NOT ' if neg else ''}NULL)"
        neg = self.peek("kw", "NOT") and bool(self.take("kw", "NOT"))
        if self.peek("kw", "IN"):
            self.i += 1
            self.take("punct", "(", "'('")
            items = [self.literal(dtype)]
            while self.peek("punct", ","):
                self.i += 1
                items.append(self.literal(dtype))
            self.take("punct", ")", "')'")
            return f"({col} {'NOT ' if neg else ''}IN ({', '.join(items)}))"
        if self.peek("kw", "BETWEEN"):
            self.i += 1
            low = self.literal(dtype)
            self.take("kw", "AND")
            return f"({col} {'NOT ' if neg else ''}BETWEEN {low} AND {self.literal(dtype)})"
        raise WhereError(f"--where: after {col} expected a comparison, IN, BETWEEN or IS NULL")


def parse_where(text: str, columns: dict[str, str]) -> Where:
    """Check `text` against `columns` ({name: DuckDB type}) and re-emit it as parameterized SQL."""
    if not text or not text.strip():
        return Where("TRUE")
    if "\n" in text or len(text) > 1000:
        raise WhereError("--where: one line of at most 1000 characters")
    p = _Parser(tokenize(text), columns)
    sql = p.expr()
    if p.i != len(p.toks):
        raise WhereError(f"--where: unexpected {p.toks[p.i].text!r} after a complete expression")
    return Where(sql, p.params, p.used)
