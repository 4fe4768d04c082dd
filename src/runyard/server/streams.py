"""Streaming JSON bodies built around stored payloads, so no payload is held whole in memory."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator

from fastapi.responses import StreamingResponse


def json_string_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The UTF-8 bytes in ``chunks`` as one JSON string literal, escaped piece by piece."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    yield b'"'
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield json.dumps(text)[1:-1].encode()
    tail = decoder.decode(b"", final=True)
    if tail:
        yield json.dumps(tail)[1:-1].encode()
    yield b'"'


def wrap_object(head: dict, key: str, value_chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``head`` with one more key whose JSON value is streamed from ``value_chunks``."""
    prefix = json.dumps(head, separators=(",", ":"))[:-1]
    yield (prefix + ("," if head else "") + json.dumps(key) + ":").encode()
    yield from value_chunks
    yield b"}"


def json_stream(chunks: Iterable[bytes], status_code: int = 200) -> StreamingResponse:
    return StreamingResponse(iter(chunks), status_code=status_code, media_type="application/json")
