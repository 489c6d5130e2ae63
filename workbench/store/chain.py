"""The audit chain's hash definition and its check over stored rows (standard library only).

Kept free of anything but the standard library so that `audit verify` can run this file as
a worker process (`python -S chain.py URI FIRST LAST`) that starts in milliseconds: a long
chain is checked in ranges on every core, then the ranges are joined.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

GENESIS = "0" * 64
_NONE = object()  # no entry seen yet (None is a valid session)
#: Hash input of entries written before revision 0003: fields joined with `|` (ambiguous:
#: a `|` moved from the payload into the kind gives the same input). Still verified.
FORMAT_PIPE = 1
#: Canonical JSON (sorted keys, no spaces, UTF-8) of the array [prev_hash, seq, ts, session,
#: actor, kind, payload], the payload being the entry's JSON object.
FORMAT_JSON = 2
CURRENT_FORMAT = FORMAT_JSON

SELECT_RANGE = ("SELECT seq, ts, session_id, actor, kind, payload, prev_hash, hash, hash_format "
                "FROM audit_entry WHERE seq >= ? AND seq <= ? ORDER BY seq")


def hash_input(prev_hash: str, seq: int, ts: float, session_id: str | None, actor: str,
               kind: str, payload: str, fmt: int = CURRENT_FORMAT) -> str:
    """The text an entry's hash is taken over (the definition; `verify_rows` has a fast copy).

    `payload` is the entry's canonical JSON text, as stored: it goes in as the JSON value it
    is, so the input is the canonical JSON of the whole array. Every field before it is one
    complete JSON token, which makes the input unambiguous even for a payload that is not.
    """
    if fmt == FORMAT_PIPE:
        return f"{prev_hash}|{seq}|{ts!r}|{session_id or ''}|{actor}|{kind}|{payload}"
    head = json.dumps([prev_hash, seq, ts, session_id, actor, kind], separators=(",", ":"),
                      ensure_ascii=False)
    return f"{head[:-1]},{payload}]"


def entry_hash(prev_hash: str, seq: int, ts: float, session_id: str | None, actor: str,
               kind: str, payload: str, fmt: int = CURRENT_FORMAT) -> str:
    """SHA-256 over the previous hash and the entry's canonical form (payload kept verbatim)."""
    body = hash_input(prev_hash, seq, ts, session_id, actor, kind, payload, fmt)
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class RangeResult:
    """What checking a run of consecutive entries found."""

    ok: bool
    entries: int
    head: str
    message: str = "ok"
    broken_seq: int | None = None
    broken_session: str | None = None
    #: The stored prev_hash of the range's first entry, with its session and kind: the
    #: join checks it against the head of the range before.
    first_prev: str | None = None
    first_session: str | None = None
    first_kind: str | None = None
    #: Where the formats change: no format-1 entry may follow a format-2 one.
    first_json: int | None = None
    last_pipe: int | None = None


def verify_rows(rows: Iterable[Any], first: int = 1, prev: str | None = GENESIS) -> RangeResult:
    """Check rows (seq, ts, session, actor, kind, payload, prev_hash, hash, format) in seq
    order, the first one expected to be entry `first`. `prev=None`: the range starts inside
    the chain, its first prev_hash is taken as given (and reported, for the join).

    The hot loop of `audit verify`. The format-2 input is built here directly: session, actor
    and kind repeat, so their JSON is made once per combination; the payload goes in as
    stored. Should this copy ever differ from `hash_input` (a value of an odd type), the
    definition decides before an entry is called broken.
    """
    sha = hashlib.sha256
    middles: dict[tuple[Any, Any, Any], str] = {}
    last_sid = last_actor = last_kind = middle = _NONE
    expected, count, newest = first, 0, FORMAT_PIPE
    first_prev = first_session = first_kind = None
    first_json = last_pipe = None
    for seq, ts, sid, actor, kind, payload, prev_hash, h, fmt in rows:
        if seq != expected:
            return RangeResult(False, count, prev or "", f"entry {expected} is missing "
                               f"(next is {seq})", expected, None, first_prev, first_session,
                               first_kind, first_json, last_pipe)
        if prev is None:
            prev, first_prev, first_session, first_kind = prev_hash, prev_hash, sid, kind
        if fmt == FORMAT_JSON:
            # runs of entries share session, actor and kind: three string compares are
            # cheaper than hashing a new key
            if sid != last_sid or actor != last_actor or kind != last_kind:
                try:
                    middle = middles[sid, actor, kind]
                except KeyError:
                    if len(middles) > 50_000:
                        middles.clear()
                    middle = middles[sid, actor, kind] = json.dumps(
                        [sid, actor, kind], separators=(",", ":"), ensure_ascii=False)[1:-1]
                last_sid, last_actor, last_kind = sid, actor, kind
            body = f'["{prev}",{seq},{ts!r},{middle},{payload}]'
            if newest == FORMAT_PIPE:
                newest, first_json = FORMAT_JSON, seq
        elif fmt == FORMAT_PIPE and newest == FORMAT_PIPE:
            body = f"{prev}|{seq}|{ts!r}|{sid or ''}|{actor}|{kind}|{payload}"
            last_pipe = seq
        else:
            return RangeResult(False, count, prev, f"entry {seq} (session {sid or '-'}, {kind}) "
                               f"has hash format {fmt} after format {newest} entries", seq, sid,
                               first_prev, first_session, first_kind, first_json, last_pipe)
        try:
            same = sha(body.encode()).hexdigest() == h
        except UnicodeEncodeError:  # a lone surrogate: the definition encodes it
            same = False
        if prev_hash != prev or (
                not same and entry_hash(prev, seq, ts, sid, actor, kind, payload, fmt) != h):
            return RangeResult(False, count, prev, f"entry {seq} (session {sid or '-'}, {kind}) "
                               "does not match its hash", seq, sid, first_prev, first_session,
                               first_kind, first_json, last_pipe)
        prev, expected, count = h, expected + 1, count + 1
    return RangeResult(True, count, prev or "", "ok", None, None, first_prev, first_session,
                       first_kind, first_json, last_pipe)


def open_read_only(uri: str) -> sqlite3.Connection:
    """A read-only connection (`uri` is a sqlite `file:` URI with mode=ro or immutable=1)."""
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def verify_range(con: sqlite3.Connection, first: int, last: int) -> RangeResult:
    """Entries first..last; `first` > 1 starts inside the chain (see `verify_rows`)."""
    result = verify_rows(con.execute(SELECT_RANGE, (first, last)), first,
                         GENESIS if first == 1 else None)
    if result.ok and result.entries < last - first + 1:  # the range ends early
        missing = first + result.entries
        nxt = con.execute("SELECT min(seq) FROM audit_entry WHERE seq > ?", (missing,)
                          ).fetchone()[0]
        where = f" (next is {nxt})" if nxt is not None else ""
        return RangeResult(False, result.entries, result.head,
                           f"entry {missing} is missing{where}", missing, None,
                           result.first_prev, result.first_session, result.first_kind,
                           result.first_json, result.last_pipe)
    return result


def main(argv: list[str]) -> int:
    """Worker: check one range and print the result as one JSON object."""
    uri, first, last = argv[0], int(argv[1]), int(argv[2])
    con = open_read_only(uri)
    try:
        result = verify_range(con, first, last)
    finally:
        con.close()
    sys.stdout.write(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
