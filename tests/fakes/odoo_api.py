"""The JSON-RPC side of the fake Odoo: `common.login` and `object.execute_kw` (`fields_get`,
`search_read`, `read`) over in-memory tables, domains, ordering and Odoo error envelopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import request

Row = dict[str, Any]
DEFAULT_ORDER = {"pos.order": "date_order desc, name desc, id desc"}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b,
    "<": lambda a, b: a is not None and a < b,
    "<=": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


class OdooError(Exception):
    """Raised inside the fake; answered as Odoo's error envelope."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class OdooJsonRpc:
    """The routes of `FakeOdoo`, over the data it holds."""

    version: int
    database: str
    username: str
    api_key: str
    uid: int
    schema: dict[str, dict[str, str]]
    tables: dict[str, dict[int, Row]]

    def _jsonrpc(self) -> Any:
        call = request.get_json(force=True)
        params = call.get("params", {})
        try:
            result = self._dispatch(params.get("service"), params.get("method"), params["args"])
        except OdooError as exc:
            data = {
                "name": exc.name,
                "debug": f"Traceback (most recent call last):\n{exc.name}: {exc}",
                "message": str(exc),
                "arguments": [str(exc)],
                "context": {},
            }
            error = {"code": 200, "message": "Odoo Server Error", "data": data}
            return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
        return {"jsonrpc": "2.0", "id": call.get("id"), "result": result}

    def _dispatch(self, service: str, method: str, args: list[Any]) -> Any:
        if service == "common" and method == "login":
            database, login, key = args
            if database != self.database:
                raise OdooError("psycopg2.OperationalError", f'database "{database}" missing')
            return self.uid if (login, key) == (self.username, self.api_key) else False
        if service == "object" and method == "execute_kw":
            database, uid, key, model, name, positional, *rest = args
            if (database, uid, key) != (self.database, self.uid, self.api_key):
                raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
            return self._execute(model, name, positional, rest[0] if rest else {})
        raise OdooError("builtins.Exception", f"no method {service}.{method}")

    def _execute(self, model: str, method: str, args: list[Any], kwargs: Row) -> Any:
        if model not in self.schema:
            raise OdooError("builtins.KeyError", model)
        kwargs = {k: v for k, v in kwargs.items() if k != "context"}
        if method == "fields_get":
            return {name: {"type": kind.split(":")[0]} for name, kind in self.schema[model].items()}
        if method == "search_read":
            return self._search_read(model, *args, **kwargs)
        if method == "read":
            return self._read(model, *args, **kwargs)
        raise OdooError("builtins.AttributeError", f"no method {method} on {model}")

    def _search_read(
        self,
        model: str,
        domain: list[Any] | None = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[Row]:
        rows = [row for row in self.tables[model].values() if self._matches(model, row, domain)]
        rows = self._sorted(rows, order or DEFAULT_ORDER.get(model, "id asc"))
        rows = rows[offset : offset + limit if limit else None]
        return [self._render(model, row, fields) for row in rows]

    def _read(self, model: str, ids: list[int], fields: list[str] | None = None) -> list[Row]:
        missing = [i for i in ids if i not in self.tables[model]]
        if missing:
            raise OdooError("odoo.exceptions.MissingError", "Record does not exist")
        return [self._render(model, self.tables[model][i], fields) for i in ids]

    def _matches(self, model: str, row: Row, domain: list[Any] | None) -> bool:
        """Polish-notation domain ('&', '|', '!' prefix; implicit '&' between terms)."""
        stack: list[bool] = []
        for item in reversed(domain or []):
            if item == "!":
                stack.append(not stack.pop())
            elif item in ("&", "|"):
                a, b = stack.pop(), stack.pop()
                stack.append(a and b if item == "&" else a or b)
            else:
                stack.append(self._term(model, row, item))
        return all(stack)

    def _term(self, model: str, row: Row, term: list[Any]) -> bool:
        field, operator, value = term
        kind = self.schema[model].get(field)
        if kind is None:
            raise OdooError("builtins.ValueError", f"Invalid field {field!r} on model {model!r}")
        if kind == "datetime" and isinstance(value, str):
            value = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        return OPERATORS[operator](row.get(field), value)

    def _sorted(self, rows: list[Row], order: str) -> list[Row]:
        for spec in reversed([part.split() for part in order.split(",")]):
            desc = len(spec) > 1 and spec[1].lower() == "desc"
            rows = sorted(rows, key=lambda r, f=spec[0]: (r.get(f) is None, r.get(f)), reverse=desc)
        return rows

    def _render(self, model: str, row: Row, fields: list[str] | None) -> Row:
        names = fields or list(self.schema[model])
        for name in names:
            if name not in self.schema[model]:
                raise OdooError("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        return {"id": row["id"], **{name: self._value(model, row, name) for name in names}}

    def _value(self, model: str, row: Row, name: str) -> Any:
        kind = self.schema[model][name]
        if model == "pos.order" and name in ("lines", "refunded_order_ids", "refunded_order_id"):
            return self._computed(row, name)
        value = row.get(name, False)
        if kind == "datetime":
            return odoo_time(value) if value else False
        if kind.startswith("many2one:"):
            return self._pair(kind.split(":")[1], value) if value else False
        return value

    def _computed(self, order: Row, name: str) -> Any:
        lines = [i for i, line in self.tables["pos.order.line"].items() if line_of(line, order)]
        if name == "lines":
            return lines
        refunded = {
            self.tables["pos.order.line"][ref]["order_id"]
            for i in lines
            if (ref := self.tables["pos.order.line"][i]["refunded_orderline_id"])
        }
        if name == "refunded_order_ids":
            return sorted(refunded)
        return self._pair("pos.order", min(refunded)) if refunded else False

    def _pair(self, model: str, record_id: int) -> list[Any]:
        record = self.tables[model][record_id]
        return [record_id, record.get("complete_name") or record.get("name")]


def line_of(line: Row, order: Row) -> bool:
    return line["order_id"] == order["id"]


def odoo_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
