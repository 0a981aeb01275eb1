"""The sync wire protocol, shared by the station client and the county server.

Plain dicts and JSON on the wire (no pydantic): the server splices stored JSON text straight
into pull pages, which is what makes an initial sync of 60,000 residents fast. The shapes are
written down below as JSON schemas (served in the OpenAPI docs) and checked by
``validate_push_request`` on the server, where input is untrusted.

Push op (one local change; only the changed fields travel)::

    {"op_id": uuid, "t": table, "id": row uuid, "k": "insert"|"update"|"delete",
     "f": {field: value}, "bv": base row_version, "h": packed HLC}

Pulled row (the server's merged state of one row; ``fh`` lists only the fields whose HLC
differs from ``h0``, the HLC of the row's insert)::

    [table, row_id, row_version, h0, {field: hlc}, {field: value}]

Events ride in the same pages: ``{"k": "conflict", ...}`` (a value of this station lost to a
concurrent edit) and ``{"k": "exit", ...}`` (a row left one of this station's villages).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from station_app.domain.hlc import Timestamp

# -- versions -----------------------------------------------------------------------------------

#: Bump on any incompatible change to the shapes in this module.
PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1
#: The synced data contract (tables and the meaning of their fields). Adding a nullable or
#: defaulted column does not need a bump: the server stores fields generically and an older
#: station ignores fields it does not know (failure mode 12). Renames and re-meanings do.
SCHEMA_VERSION = 1
MIN_SCHEMA_VERSION = 1

HEADER_PROTOCOL = "X-Sync-Protocol"
HEADER_SCHEMA = "X-Sync-Schema"
HEADER_APP_VERSION = "X-App-Version"

# -- sizes --------------------------------------------------------------------------------------

MAX_BATCH_OPS = 500
MAX_BATCH_BYTES = 1_000_000
#: Weak 4G gets 500-row pages; the client doubles the page while round trips stay fast.
DEFAULT_PAGE_ROWS = 500
MIN_PAGE_ROWS = 100
MAX_PAGE_ROWS = 20000
#: Raw JSON bytes per page the server stops at (about 1 MB once gzipped).
MAX_PAGE_BYTES = 8_000_000
#: A request body may not inflate beyond this (gzip bombs).
MAX_BODY_BYTES = 64_000_000
MAX_BUNDLE_BYTES = 256_000_000
MAX_FIELD_CHARS = 200_000
MAX_DRIFT_MS = 5 * 60 * 1000
GZIP_LEVEL = 6

OP_KINDS = frozenset({"insert", "update", "delete"})
#: Row bookkeeping that never travels as a field (the row id travels as ``id``).
FORBIDDEN_FIELDS = frozenset({"id", "updated_hlc", "row_version"})
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")
STATION_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class OpStatus:
    ACCEPTED = "accepted"  # every field applied (or already there)
    CONFLICT = "conflict"  # applied, but some field lost to a concurrent edit (kept for review)
    REJECTED = "rejected"  # nothing applied; ``reason`` says why


class Reason:
    OUT_OF_SCOPE = "out_of_scope"
    REFERENCE_READ_ONLY = "reference_read_only"
    SERVER_AUTHORED = "server_authored"
    LOCAL_ONLY = "local_only"
    UNKNOWN_TABLE = "unknown_table"
    INVALID_VALUE = "invalid_value"
    MISSING_ROW = "missing_row"
    DUPLICATE_KEY = "duplicate_key"
    BAD_OP = "bad_op"


REASON_MESSAGES = {
    Reason.OUT_OF_SCOPE: "该记录不在本站管辖范围内（可能已划归其他乡镇或迁至其他村），县服务器未接受此修改。",
    Reason.REFERENCE_READ_ONLY: "县级参考数据只读，只能由县医保局下发。",
    Reason.SERVER_AUTHORED: "结算数据由县医保局下发，站点不能修改。",
    Reason.LOCAL_ONLY: "本地账户数据不上传县服务器。",
    Reason.UNKNOWN_TABLE: "县服务器不认识此类数据，请升级程序。",
    Reason.INVALID_VALUE: "数据格式不正确，县服务器未接受此修改。",
    Reason.MISSING_ROW: "该记录在县服务器上不存在（可能已被删除）。",
    Reason.DUPLICATE_KEY: "与其他站点录入的记录重复，已保留县服务器上的记录；您的数据见“冲突”列表。",
    Reason.BAD_OP: "无法识别的修改，县服务器未接受。",
}


class ErrorCode:
    SCHEMA_MISMATCH = "schema_mismatch"  # this app is too old (or too new) for the server
    SERVER_TOO_OLD = "server_too_old"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    BAD_SIGNATURE = "bad_signature"
    TOO_LARGE = "too_large"


ERROR_MESSAGES = {
    ErrorCode.SCHEMA_MISMATCH: "县服务器版本与本程序不匹配，请升级程序后再同步。",
    ErrorCode.SERVER_TOO_OLD: "县服务器版本较旧，请联系县医保局升级服务器后再同步。",
    ErrorCode.UNAUTHORIZED: "同步令牌无效或已停用，请向县医保局重新申请。",
    ErrorCode.FORBIDDEN: "本站无权访问这些数据。",
    ErrorCode.BAD_REQUEST: "同步请求格式错误。",
    ErrorCode.BAD_SIGNATURE: "数据包签名无效（可能被篡改或不是本县站点导出的），已拒绝导入。",
    ErrorCode.TOO_LARGE: "数据太大，县服务器拒绝接收。",
}


def version_error(protocol: int | None, schema: int | None) -> str | None:
    """The error code for a client speaking another version, or None when it is accepted."""
    if protocol is None or schema is None:
        return ErrorCode.SCHEMA_MISMATCH
    if protocol > PROTOCOL_VERSION or schema > SCHEMA_VERSION:
        return ErrorCode.SERVER_TOO_OLD
    if protocol < MIN_PROTOCOL_VERSION or schema < MIN_SCHEMA_VERSION:
        return ErrorCode.SCHEMA_MISMATCH
    return None


def version_headers() -> dict[str, str]:
    from station_app import __version__

    return {HEADER_PROTOCOL: str(PROTOCOL_VERSION), HEADER_SCHEMA: str(SCHEMA_VERSION),
            HEADER_APP_VERSION: __version__}


# -- JSON and gzip --------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Compact JSON, Chinese kept as is (smaller than \\u escapes before gzip, and after)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    # mtime=0: the same body always compresses to the same bytes (signatures, tests).
    return gzip.compress(data, compresslevel=level, mtime=0)


class TooLarge(ValueError):
    pass


def gunzip_bytes(data: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Inflate at most ``limit`` bytes; a bomb raises TooLarge instead of eating the memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"inflated body exceeds {limit} bytes")
    if not inflater.eof:
        raise ValueError("truncated gzip body")
    return out


# -- HLC helpers (the server compares packed stamps as strings: fixed width, same order) ---------

_NODE_OFFSET = 13 + 1 + 6 + 1


def hlc_node(packed: str) -> str:
    """The station that issued a packed HLC (its node), without parsing the numbers."""
    return packed[_NODE_OFFSET:]


def with_node(ts: Timestamp, node: str) -> Timestamp:
    return Timestamp(ts.wall_ms, ts.counter, node)


def after(packed: str, node: str) -> str:
    """The smallest stamp of ``node`` that beats ``packed`` (a causally later write)."""
    ts = Timestamp.parse(packed)
    if ts.counter >= 999_999:
        return Timestamp(ts.wall_ms + 1, 0, node).pack()
    return Timestamp(ts.wall_ms, ts.counter + 1, node).pack()


# -- pulled rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowState:
    """One row as the server holds it after merging; see the module docstring for the wire form."""

    table: str
    row_id: str
    row_version: int
    h0: str
    fh: dict[str, str]
    data: dict[str, Any]

    @classmethod
    def from_wire(cls, item: list) -> "RowState":
        table, row_id, row_version, h0, fh, data = item
        return cls(table, row_id, int(row_version), h0, fh or {}, data or {})

    def field_hlc(self, name: str) -> str:
        return self.fh.get(name, self.h0)

    def max_hlc(self) -> str:
        return max([self.h0, *self.fh.values()])

    @property
    def deleted(self) -> bool:
        return bool(self.data.get("deleted"))


# -- validation of untrusted push requests (server side) -----------------------------------------


class ProtocolError(ValueError):
    """A request that does not follow this protocol (answered 400, nothing applied)."""


def _is_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, str) and len(value) <= MAX_FIELD_CHARS


def validate_op_shape(op: Any) -> str | None:
    """Why one op is malformed (None if it is well formed); the op alone is rejected."""
    if not isinstance(op, dict):
        return "op is not an object"
    if not isinstance(op.get("op_id"), str) or not _UUID.match(op["op_id"]):
        return "op_id"
    if not isinstance(op.get("t"), str) or not _FIELD_NAME.match(op["t"]):
        return "table"
    if not isinstance(op.get("id"), str) or not _UUID.match(op["id"]):
        return "row id"
    if op.get("k") not in OP_KINDS:
        return "kind"
    fields = op.get("f")
    if not isinstance(fields, dict):
        return "fields"
    for name, value in fields.items():
        if not _FIELD_NAME.match(name) or name in FORBIDDEN_FIELDS:
            return f"field name {name!r}"
        if not _is_scalar(value):
            return f"field value {name!r}"
    if not isinstance(op.get("bv"), int) or isinstance(op.get("bv"), bool) or op["bv"] < 0:
        return "base_version"
    try:
        Timestamp.parse(op.get("h") or "")
    except ValueError:
        return "hlc"
    return None


def validate_push_request(body: Any) -> dict[str, Any]:
    """Check the envelope of a push; individual bad ops are rejected one by one later."""
    if not isinstance(body, dict):
        raise ProtocolError("body is not an object")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not _UUID.match(batch_id):
        raise ProtocolError("batch_id")
    ops = body.get("ops")
    if not isinstance(ops, list) or len(ops) > MAX_BATCH_OPS * 4:
        raise ProtocolError("ops")
    client_time = body.get("client_time_ms")
    if client_time is not None and (not isinstance(client_time, int) or isinstance(client_time, bool)):
        raise ProtocolError("client_time_ms")
    return body


# -- JSON schemas (documentation; shown in the server's OpenAPI page) -----------------------------

OP_SCHEMA = {
    "type": "object",
    "required": ["op_id", "t", "id", "k", "f", "bv", "h"],
    "properties": {
        "op_id": {"type": "string", "format": "uuid", "description": "idempotence key of this change"},
        "t": {"type": "string", "description": "table name, e.g. resident"},
        "id": {"type": "string", "format": "uuid", "description": "row id (born at the station)"},
        "k": {"enum": sorted(OP_KINDS)},
        "f": {"type": "object", "description": "changed fields only: name → JSON scalar"},
        "bv": {"type": "integer", "description": "row_version the station had when it edited"},
        "h": {"type": "string", "description": "packed HLC: 13-digit ms, 6-digit counter, station"},
    },
}

PUSH_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["batch_id", "ops"],
    "properties": {
        "batch_id": {"type": "string", "format": "uuid",
                     "description": "saved by the station before sending; a replay gets the stored answer"},
        "client_time_ms": {"type": "integer", "description": "station wall clock, to correct a skewed clock"},
        "ops": {"type": "array", "maxItems": MAX_BATCH_OPS * 4, "items": OP_SCHEMA},
    },
}

PUSH_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "batch_id": {"type": "string"},
        "server_time_ms": {"type": "integer"},
        "replayed": {"type": "boolean"},
        "results": {"type": "array", "items": {"type": "object", "properties": {
            "op_id": {"type": "string"},
            "status": {"enum": [OpStatus.ACCEPTED, OpStatus.CONFLICT, OpStatus.REJECTED]},
            "rv": {"type": "integer"}, "seq": {"type": "integer"},
            "reason": {"type": "string"}, "message": {"type": "string"},
            "lost": {"type": "array", "items": {"type": "string"}},
            "row": {"type": "array", "description": "server state of the row (rejected ops in scope)"},
        }}},
    },
}

PULL_PAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "server_time_ms": {"type": "integer"},
        "station": {"type": "string"},
        "scope": {"type": ["array", "null"], "items": {"type": "string"},
                  "description": "place codes this station may read and write; null = whole county"},
        "cursor": {"type": "integer", "description": "next cursor: pass it back with the next pull"},
        "has_more": {"type": "boolean"},
        "horizon": {"type": "integer"},
        "ref_horizon": {"type": "integer", "description": "latest reference seq; pull stream=ref when behind"},
        "rows": {"type": "array", "items": {"type": "array", "description":
                 "[table, id, row_version, h0, {field: hlc}, {field: value}]"}},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}
