"""The tables a SQL statement touches, read with sqlglot: what a plan annotates with
live figures, and what a lock timeout names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableName:
    """A table as the database stores its name (unquoted names folded as the dialect
    folds them: lower case on PostgreSQL), with its schema when the statement gave one."""

    name: str
    schema: str | None = None

    @property
    def shown(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def qualified(self) -> str:
        """``"schema"."name"``, quoted: PostgreSQL's ``to_regclass`` reads it as is."""
        parts = [p for p in (self.schema, self.name) if p]
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def touched(statement: str, dialect: str | None) -> list[TableName]:
    """Every table ``statement`` names, in order, once each; ``[]`` when sqlglot cannot
    parse it (a plan then shows no figures for it rather than failing)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    try:
        with _quiet():
            parsed = sqlglot.parse_one(statement, dialect=dialect or None)
            parsed = normalize_identifiers(parsed, dialect=dialect or None)
    except Exception:  # a third-party parser: any failure means "not known"
        return []
    if parsed is None or isinstance(parsed, exp.Command):
        return []
    found: list[TableName] = []
    for table in parsed.find_all(exp.Table):
        if not table.name:
            continue
        name = TableName(table.name, table.db or None)
        if name not in found:
            found.append(name)
    return found


class _quiet:
    """sqlglot logs what it could not parse as warnings; a plan does not want them."""

    def __enter__(self) -> None:
        import logging

        self.logger = logging.getLogger("sqlglot")
        self.level = self.logger.level
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *_: object) -> None:
        self.logger.setLevel(self.level)
