"""Exact JSON Schema patterns of what the services exchange as text."""

from __future__ import annotations

from bitcluster.core.codes import code_bytes

BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Standard base64 with its padding: what base64.b64decode(text, validate=True) accepts.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def base64_code_pattern(bits: int) -> str:
    """The regular expression of the canonical base64 of one packed ``bits``-bit code.

    A code is ``ceil(bits / 8)`` bytes, MSB first, with its padding bits clear; in base64 each
    character carries 6 bits, so a character that carries padding (or base64's own fill) bits may
    only take the values whose low bits are zero. Any string the pattern matches is a code the
    consumer accepts, and every code it accepts matches.
    """
    n_bytes = code_bytes(bits)
    n_chars = -(-8 * n_bytes // 6)
    parts, free = [], 0
    for j in range(n_chars):
        data_bits = min(6, max(0, bits - 6 * j))  # the leading bits of this character that are code bits
        if data_bits == 6:
            free += 1
            continue
        if free:
            parts.append(f"[A-Za-z0-9+/]{{{free}}}")
            free = 0
        step = 1 << (6 - data_bits)
        parts.append("[" + BASE64_ALPHABET[::step] + "]" if data_bits else "A")
    if free:
        parts.append(f"[A-Za-z0-9+/]{{{free}}}")
    return "^" + "".join(parts) + "=" * (-n_chars % 4) + "$"
