"""multipart/form-data bodies (the NHN and CLOVA doors' uploads), parsed with `multipart`
(a small, pure-Python, maintained parser), bounded in parts, headers and sizes."""

from __future__ import annotations

from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode

# An upload carries a file and, for CLOVA, a JSON message: a handful of parts is plenty.
MAX_PARTS = 8
MAX_HEADER_BYTES = 4096


def parse_form(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """{field name: (content, filename or None)}, the first part of each name; ApiError when
    the body is not a well-formed, bounded multipart/form-data body."""
    from multipart import (
        MultipartError,
        MultipartSegment,
        ParserLimitReached,
        PushMultipartParser,
        parse_options_header,
    )

    _, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise ApiError(ErrorCode.INVALID_REQUEST, "the multipart/form-data Content-Type has no boundary")
    fields: dict[str, tuple[bytes, str | None]] = {}
    try:
        with PushMultipartParser(
            boundary,
            content_length=len(body),
            max_header_size=MAX_HEADER_BYTES,
            max_segment_count=MAX_PARTS,
            max_segment_size=MAX_IMAGE_BYTES,
        ) as parser:
            segment: MultipartSegment | None = None
            chunks: list[bytes] = []
            for event in parser.parse(body):
                if event is None:  # the end of a part (the parser always began it with a segment)
                    if segment is not None and segment.name not in fields:
                        fields[segment.name] = (b"".join(chunks), segment.filename)
                    segment, chunks = None, []
                elif isinstance(event, (bytes, bytearray)):
                    chunks.append(bytes(event))
                else:
                    segment = event
            for _ in parser.parse(b""):  # the end of the input
                pass
    except ParserLimitReached as exc:
        if str(exc) == "Maximum segment size exceeded":
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"a file in the form is over {MAX_IMAGE_BYTES} bytes (10 MiB)"
            ) from None
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f"the multipart form is too complex (at most {MAX_PARTS} parts, headers up to {MAX_HEADER_BYTES} bytes)",
        ) from None
    except MultipartError:
        raise ApiError(ErrorCode.INVALID_REQUEST, "the multipart/form-data body is malformed or incomplete") from None
    return fields
