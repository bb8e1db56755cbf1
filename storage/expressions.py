"""SQL expressions the two dialects write differently, compiled per dialect (SQLAlchemy's ``@compiles``).

``case_person(cases.c.people, "social_worker")`` is the user name a case's ``people`` JSON holds for a role: the
expression the desk's read paths filter on and that ``ix_cases_social_worker``/``ix_cases_iro`` index. The key is
written into the SQL as a literal (never a bound parameter), so a query's expression is the indexed one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["CASE_PERSON_KEYS", "case_person"]

CASE_PERSON_KEYS = ("social_worker", "iro")  # the keys indexed (a key outside these is only ever scanned)


class case_person(FunctionElement[str]):
    """The user name stored under ``key`` in a JSON people column (``NULL`` when there is none)."""

    type = String()
    name = "case_person"
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if not key.isidentifier():
            raise ValueError(f"not a people key: {key!r}")
        self.key = key
        super().__init__(column)


def _column(element: case_person, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)


@compiles(case_person, "sqlite")
def _sqlite(element: case_person, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({_column(element, compiler, **kw)}, '$.{element.key}')"


@compiles(case_person, "postgresql")
def _postgresql(element: case_person, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_column(element, compiler, **kw)} ->> '{element.key}')"
