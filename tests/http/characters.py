"""Classes of characters that Python and HTTP disagree about, for tests at the gateway.

HTTP's optional whitespace is SP and HTAB only (RFC 9110 5.6.3), and a request line separates its
parts with single SPs (RFC 9112 3). ``str.strip()`` and ``str.split()`` without arguments take much
more for whitespace; a parser that uses them accepts what API Gateway refuses.
"""

from __future__ import annotations

import sys

# Every character str.strip() removes that HTTP does not: LF, VT, FF, CR, U+001C-U+001F, U+0085,
# U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (27 in all).
PYTHON_ONLY_WHITESPACE = tuple(
    char for char in map(chr, range(sys.maxunicode + 1)) if not char.strip() and char not in " \t"
)
# Those a header value can carry on the wire (CR and LF end the line there).
IN_A_FIELD_VALUE = tuple(char for char in PYTHON_ONLY_WHITESPACE if char not in "\r\n")
# The other control characters (C0 and DEL; not HTAB, nor CR and LF), which HTTP refuses as well.
CONTROLS = tuple(
    char
    for char in map(chr, [*range(0x20), 0x7F])
    if char not in "\t\r\n" and char not in PYTHON_ONLY_WHITESPACE
)


def wire(char: str) -> bytes:
    """``char`` as a client puts it into a header: one Latin-1 byte, else its UTF-8 bytes (which
    the server, reading headers as Latin-1, sees as two or three characters from U+0080 up)."""
    return char.encode("latin-1") if ord(char) < 0x100 else char.encode()
