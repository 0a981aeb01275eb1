"""The sync wire protocol, shared by the station client and the county server.

Plain dicts and JSON on the wire (no pydantic): the server splices stored JSON text straight
into pull pages, which is what makes an initial sync of 60,000 residents fast. The shapes are
written down below as JSON schemas (served in the OpenAPI docs) and checked by
``validate_push_request`` on the server, where input is untrusted.

Push op (one local change; only the changed fields travel)::

    {"op_id": uuid, "t": table, "id": row uuid, "k": "insert"|"update"|"delete",
     "f": {field: value}, "bv": base row_version, "h": packed HLC, "u": username (optional)}

``u`` (who made the change, shown beside a conflict at the station that lost to it) is sent only
to a server that says it takes it (``"accepts_user": true`` in its push answers and pull pages):
an older server refuses ops with keys it does not know.

Pulled row (the server's merged state of one row; ``fh`` lists only the fields whose HLC
differs from ``h0``, the HLC of the row's insert)::

    [table, row_id, row_version, h0, {field: hlc}, {field: value}]

Events ride in the same pages: ``{"k": "conflict", ...}`` (a value of this station lost to a
concurrent edit; ``ws``/``wsn``/``wu``: the winning change's station code, station name and user) and ``{"k": "exit", ...}`` (a row left one of this station's villages).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from sync_protocol.hlc import MAX_WALL_MS, Timestamp

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
#: A push body (after inflating) may not be larger than this: MAX_BATCH_BYTES of ops plus the
#: envelope. Enforced while the body streams in (413 before anything is buffered).
MAX_PUSH_BYTES = 1_048_576
#: A response (pull page) may not inflate beyond this at the station (gzip bombs).
MAX_BODY_BYTES = 64_000_000
MAX_BUNDLE_BYTES = 256_000_000
MAX_FIELD_CHARS = 200_000
#: Nesting a station ever sends is 4 deep (body → ops → op → fields); anything deeper is refused.
MAX_JSON_DEPTH = 16
#: Cursors are server seqs (BIGINT); anything above this cannot be one.
MAX_CURSOR = 2**62
MAX_DRIFT_MS = 5 * 60 * 1000
GZIP_LEVEL = 6

OP_KINDS = frozenset({"insert", "update", "delete"})
#: Row bookkeeping that never travels as a field (the row id travels as ``id``).
FORBIDDEN_FIELDS = frozenset({"id", "updated_hlc", "row_version"})
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}", re.ASCII)
#: Canonical UUID text, the only form ids take (``str(uuid.uuid4())``). Always ``fullmatch``:
#: ``$`` in ``match`` also matches before a trailing newline (issue 9 finding 1).
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
STATION_CODE = re.compile(r"[A-Za-z0-9_.-]{1,32}", re.ASCII)


def is_uuid(value: Any) -> bool:
    """A canonical UUID string (lower-case, hyphenated, nothing around it)."""
    return isinstance(value, str) and len(value) == 36 and UUID_TEXT.fullmatch(value) is not None


_UUID_ALPHABET = re.compile(r"[0-9a-f\n-]*", re.ASCII)


def all_uuids(values: list) -> bool:
    """``is_uuid`` for a whole page of ids at C speed (pages carry up to 20,000 rows, and the
    initial sync must stay ≥ 30,000 rows/s): joined by newlines, the text must have the exact
    length, the hyphens exactly at the UUID positions, and only hex digits besides."""
    count = len(values)
    if not count:
        return True
    try:
        text = "\n".join(values)
    except TypeError:  # something that is not text
        return False
    return (len(text) == 37 * count - 1 and text.count("\n") == count - 1 and text.count("-") == 4 * count
            and text[8::37].count("-") == count and text[13::37].count("-") == count
            and text[18::37].count("-") == count and text[23::37].count("-") == count
            and _UUID_ALPHABET.fullmatch(text) is not None)


def is_station_code(value: Any) -> bool:
    return isinstance(value, str) and STATION_CODE.fullmatch(value) is not None


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
    MISSING_ROW = "missing_row"  # kept for older stations; the server answers OUT_OF_SCOPE
    DUPLICATE_KEY = "duplicate_key"
    BAD_OP = "bad_op"
    UNKNOWN_FIELD = "unknown_field"


REASON_MESSAGES = {
    Reason.OUT_OF_SCOPE: ("该记录不在本站管辖范围内或县服务器上没有该记录（可能已划归其他乡镇、迁至其他村或已被删除），"
                          "县服务器未接受此修改。"),
    Reason.REFERENCE_READ_ONLY: "县级参考数据只读，只能由县医保局下发。",
    Reason.SERVER_AUTHORED: "结算数据由县医保局下发，站点不能修改。",
    Reason.LOCAL_ONLY: "本地账户数据不上传县服务器。",
    Reason.UNKNOWN_TABLE: "县服务器不认识此类数据，请升级程序。",
    Reason.INVALID_VALUE: "数据格式不正确，县服务器未接受此修改。",
    Reason.MISSING_ROW: "该记录在县服务器上不存在（可能已被删除）。",
    Reason.DUPLICATE_KEY: "与其他站点录入的记录重复，已保留县服务器上的记录；您的数据见“冲突”列表。",
    Reason.BAD_OP: "无法识别的修改，县服务器未接受。",
    Reason.UNKNOWN_FIELD: "县服务器不认识此修改中的字段（县服务器版本较旧？请联系县医保局升级服务器），未接受此修改。",
}


class ErrorCode:
    SCHEMA_MISMATCH = "schema_mismatch"  # this app is too old (or too new) for the server
    SERVER_TOO_OLD = "server_too_old"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    BAD_SIGNATURE = "bad_signature"
    TOO_LARGE = "too_large"
    BATCH_REUSED = "batch_reused"
    TOKEN_EXPIRED = "token_expired"


ERROR_MESSAGES = {
    ErrorCode.SCHEMA_MISMATCH: "县服务器版本与本程序不匹配，请升级程序后再同步。",
    ErrorCode.SERVER_TOO_OLD: "县服务器版本较旧，请联系县医保局升级服务器后再同步。",
    ErrorCode.UNAUTHORIZED: "同步令牌无效或已停用，请向县医保局重新申请。",
    ErrorCode.FORBIDDEN: "本站无权访问这些数据。",
    ErrorCode.BAD_REQUEST: "同步请求格式错误。",
    ErrorCode.BAD_SIGNATURE: "数据包签名无效（可能被篡改或不是本县站点导出的），已拒绝导入。",
    ErrorCode.TOO_LARGE: "数据太大，县服务器拒绝接收（每批最多 500 条修改、1 MB）。",
    ErrorCode.BATCH_REUSED: "同一批次编号已用于内容不同的另一批修改，县服务器拒绝接收。",
    ErrorCode.TOKEN_EXPIRED: "同步令牌已过期，请向县医保局重新申请。",
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
    from sync_protocol import __version__

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


def text_problem(value: str, limit: int = MAX_FIELD_CHARS) -> str | None:
    """Why a string cannot be stored and sent on (None when it can): too long, a NUL byte, or a
    lone surrogate (valid in a JSON escape, but not UTF-8: it would break every later page)."""
    if len(value) > limit:
        return "too long"
    if "\x00" in value:
        return "NUL"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "surrogate"
    return None


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "not finite"
    if isinstance(value, str):
        return text_problem(value)
    return "not a scalar"


OP_KEYS = frozenset({"op_id", "t", "id", "k", "f", "bv", "h", "u"})
MAX_HLC_CHARS = 64
#: Longest username an op names (the station's app_user.username column).
MAX_USER_CHARS = 40


def validate_op_shape(op: Any) -> str | None:
    """Why one op is malformed (None if it is well formed); the op alone is rejected.

    The reason never echoes what was sent (it may be anything, including text that cannot be
    encoded): only which part is wrong.
    """
    if not isinstance(op, dict):
        return "op is not an object"
    if not is_uuid(op.get("op_id")):
        return "op_id"
    if op.keys() - OP_KEYS:
        return "unknown op key"
    table = op.get("t")
    if not isinstance(table, str) or not _FIELD_NAME.fullmatch(table):
        return "table"
    if not is_uuid(op.get("id")):
        return "row id"
    if op.get("k") not in OP_KINDS:
        return "kind"
    fields = op.get("f")
    if not isinstance(fields, dict):
        return "fields"
    for name, value in fields.items():
        if not _FIELD_NAME.fullmatch(name) or name in FORBIDDEN_FIELDS:
            return "field name"
        problem = _scalar_problem(value)
        if problem:
            return f"field {name}: {problem}"
    bv = op.get("bv")
    if not isinstance(bv, int) or isinstance(bv, bool) or not 0 <= bv < 2**31:
        return "base_version"
    hlc = op.get("h")
    if not isinstance(hlc, str) or len(hlc) > MAX_HLC_CHARS or text_problem(hlc):
        return "hlc"
    try:
        Timestamp.parse(hlc)
    except ValueError:
        return "hlc"
    user = op.get("u")
    if user is not None and (not isinstance(user, str) or text_problem(user, MAX_USER_CHARS)):
        return "user"
    return None


def short_text(value: Any, limit: int = MAX_USER_CHARS) -> str:
    """A name from the other side (a username, a station name) fit to store and show, else ''."""
    return value if isinstance(value, str) and not text_problem(value, limit) else ""


def validate_push_request(body: Any) -> dict[str, Any]:
    """Check the envelope of a push; individual bad ops are rejected one by one later."""
    if not isinstance(body, dict):
        raise ProtocolError("body is not an object")
    if body.keys() - {"batch_id", "ops", "client_time_ms"}:
        raise ProtocolError("unknown key")
    if not is_uuid(body.get("batch_id")):
        raise ProtocolError("batch_id")
    ops = body.get("ops")
    if not isinstance(ops, list):
        raise ProtocolError("ops")
    if len(ops) > MAX_BATCH_OPS:
        raise TooLarge(f"more than {MAX_BATCH_OPS} ops")
    if not all(isinstance(op, dict) for op in ops):
        raise ProtocolError("op is not an object")  # no station ever sends that: not this protocol
    client_time = body.get("client_time_ms")
    if isinstance(client_time, float) and client_time.is_integer():
        client_time = body["client_time_ms"] = int(client_time)  # 399.0 is an integer in JSON
    if client_time is not None and (not isinstance(client_time, int) or isinstance(client_time, bool)
                                    or not 0 <= client_time <= MAX_WALL_MS):
        raise ProtocolError("client_time_ms")
    return body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_request(raw: bytes) -> Any:
    """Parse an untrusted JSON body: strict UTF-8, no NaN/Infinity, bounded nesting.

    Raises ProtocolError for anything that is not such JSON (the caller answers 400).
    """
    depth = max_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ProtocolError("nested too deep")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProtocolError("not JSON") from error


_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def max_depth(raw: bytes) -> int:
    """Deepest nesting of brackets outside strings (a scan: 100,000 ``[`` never recurse)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(raw):
        char = match.group()
        if char == b"[" or char == b"{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        elif char == b"]" or char == b"}":
            depth -= 1
    return deepest


# -- JSON schemas (documentation; shown in the server's OpenAPI page) -----------------------------

_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

OP_SCHEMA = {
    "type": "object",
    "required": ["op_id", "t", "id", "k", "f", "bv", "h"],
    "additionalProperties": False,
    "properties": {
        "op_id": {"type": "string", "format": "uuid", "pattern": _UUID_PATTERN,
                  "description": "idempotence key of this change (unique per station)"},
        "t": {"type": "string", "description": "table name, e.g. resident"},
        "id": {"type": "string", "format": "uuid", "pattern": _UUID_PATTERN,
               "description": "row id (born at the station; canonical lower-case UUID)"},
        "k": {"enum": sorted(OP_KINDS)},
        "f": {"type": "object", "description": "changed fields only: name → JSON scalar, checked against "
              "the table's spec (known names, type, length, no NUL, no lone surrogate, real dates)",
              "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null"]}},
        "bv": {"type": "integer", "minimum": 0, "description": "row_version the station had when it edited"},
        "h": {"type": "string", "maxLength": MAX_HLC_CHARS,
              "description": "packed HLC: 13-digit ms, 6-digit counter, station"},
        "u": {"type": "string", "maxLength": MAX_USER_CHARS,
              "description": "username of the station user who made the change (optional; shown beside "
                             "a conflict at the station whose value lost)"},
    },
}

PUSH_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["batch_id", "ops"],
    "additionalProperties": False,
    "properties": {
        "batch_id": {"type": "string", "format": "uuid", "pattern": _UUID_PATTERN,
                     "description": "saved by the station before sending; a replay gets the stored answer, "
                                    "the same id with other ops is a 409"},
        "client_time_ms": {"type": "integer", "minimum": 0, "maximum": MAX_WALL_MS,
                           "description": "station wall clock, to correct a skewed clock"},
        # Each op is judged on its own: one that is not a valid op (``x-valid-op``) is answered
        # ``rejected`` in the 200 answer, the others go on (an invalid op never blocks a queue).
        "ops": {"type": "array", "maxItems": MAX_BATCH_OPS, "items": {
            "type": "object", "x-valid-op": OP_SCHEMA,
            "description": "one change, see x-valid-op; an invalid one is rejected alone (200)"}},
    },
}

PUSH_ANSWER_SCHEMA = {
    "type": "object",
    "required": ["results", "server_time_ms"],
    "properties": {
        "batch_id": {"type": "string"},
        "server_time_ms": {"type": "integer"},
        "accepts_user": {"type": "boolean", "description": "ops may name their user (key u)"},
        "replayed": {"type": "boolean"},
        "results": {"type": "array", "items": {"type": "object", "required": ["op_id", "status"], "properties": {
            "op_id": {"type": "string", "description": "empty when what was sent was no op id"},
            "status": {"enum": [OpStatus.ACCEPTED, OpStatus.CONFLICT, OpStatus.REJECTED]},
            "rv": {"type": "integer"}, "seq": {"type": "integer"},
            "reason": {"type": "string"}, "message": {"type": "string"},
            "duplicate": {"type": "boolean"},
            "lost": {"type": "array", "items": {"type": "string"}},
            "row": {"type": "array", "description": "server state of the row (rejected ops in scope): "
                    "[table, id, row_version, h0, {field: hlc}, {field: value}]"},
        }}},
    },
}

PULL_PAGE_SCHEMA = {
    "type": "object",
    "required": ["server_time_ms", "station", "scope", "stream", "cursor", "has_more", "horizon",
                 "ref_horizon", "events", "tables"],
    "properties": {
        "server_time_ms": {"type": "integer"},
        "station": {"type": "string"},
        "scope": {"type": ["array", "null"], "items": {"type": "string"},
                  "description": "place codes this station may read and write; null = whole county"},
        "stream": {"enum": ["data", "ref"]},
        "cursor": {"type": "integer", "description": "next cursor: pass it back with the next pull"},
        "has_more": {"type": "boolean"},
        "horizon": {"type": "integer"},
        "ref_horizon": {"type": "integer", "description": "latest reference seq; pull stream=ref when behind"},
        "accepts_user": {"type": "boolean", "description": "ops may name their user (key u)"},
        "tables": {"type": "array", "description": "blocks of one table and one column set", "items": {
            "type": "object", "required": ["t", "c", "r"], "properties": {
                "t": {"type": "string", "description": "table"},
                "c": {"type": "array", "items": {"type": "string"}, "description": "column names, once"},
                "r": {"type": "array", "items": {"type": "array", "description":
                      "[id, row_version, h0, {field: hlc}|null, value per column…]"}}}}},
        "events": {"type": "array", "items": {"type": "object"},
                   "description": "{k: conflict|exit, …} for this station"},
    },
}

HEALTH_SCHEMA = {
    "type": "object", "required": ["status", "version", "protocol", "schema", "server_time_ms"],
    "properties": {"status": {"type": "string"}, "version": {"type": "string"},
                   "protocol": {"type": "array", "items": {"type": "integer"}},
                   "schema": {"type": "array", "items": {"type": "integer"}},
                   "server_time_ms": {"type": "integer"}},
}

BUNDLE_SUMMARY_SCHEMA = {
    "type": "object", "required": ["bundle_id", "station", "batches", "already_imported"],
    "properties": {"bundle_id": {"type": "string"}, "station": {"type": "string"},
                   "batches": {"type": "integer"}, "refused_batches": {"type": "integer"},
                   "accepted": {"type": "integer"}, "conflict": {"type": "integer"},
                   "rejected": {"type": "integer"}, "duplicate": {"type": "integer"},
                   "already_imported": {"type": "boolean"}},
}

STATION_KEYS_SCHEMA = {
    "type": "object", "required": ["keys", "places"],
    "properties": {"keys": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "station code → bundle HMAC key (hex)"},
                   "places": {"type": "object", "additionalProperties": {"type": "string"},
                              "description": "station code → its village"}},
}

STATIONS_SCHEMA = {
    "type": "object", "required": ["stations"],
    "properties": {"stations": {"type": "array", "items": {
        "type": "object", "required": ["code", "name", "scope", "place_code", "active"],
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "scope": {"type": "string"},
                       "place_code": {"type": "string"}, "active": {"type": "boolean"},
                       "last_seen_at": {"type": ["string", "null"]}, "pulled_seq": {"type": "integer"},
                       "token_expires_at": {"type": ["string", "null"]}}}}},
}
