"""Content negotiation: which of the media types a route can answer with does ``Accept`` ask for."""

from __future__ import annotations

from typing import Sequence

from bitcluster.serving.errors import ServiceError


def parse_accept(accept: str) -> list[tuple[str, float]]:
    """``"a/b;q=0.5, */*"`` -> ``[("a/b", 0.5), ("*/*", 1.0)]``; entries with a malformed q are dropped."""
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            ranges.append((media.lower(), q))
    return ranges


def negotiate(accept: str | None, offered: Sequence[str]) -> str:
    """The media type of ``offered`` to answer with; 406 when ``Accept`` allows none of them.

    The highest q wins; at equal q a type the client names explicitly beats one it only allows
    through a wildcard, the one it names first beats the others, and otherwise the order of
    ``offered`` (the route's preference) decides. No ``Accept`` (or an empty one) accepts anything.
    """
    if not accept or not accept.strip():
        return offered[0]
    ranges = parse_accept(accept)
    best, best_score = None, None
    for preference, media in enumerate(offered):
        kind = media.split("/")[0] + "/*"
        for position, (pattern, q) in enumerate(ranges):
            if pattern in (media, kind, "*/*") and q > 0:
                explicit = pattern == media
                score = (q, explicit, -position if explicit else 0, -preference)
                if best_score is None or score > best_score:
                    best, best_score = media, score
    if best is None:
        raise ServiceError(406, "not_acceptable", f"this route answers with {', '.join(offered)}; "
                                                  "send an Accept header that allows one of them")
    return best
