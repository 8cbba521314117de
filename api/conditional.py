"""Conditional requests: the If-Match header as the entity tags a write may proceed on."""

from flask import request


def parse_if_match(header: str | None) -> frozenset[str] | None:
    """The tags an If-Match header lists; None when any version will do (no header, or `*`)."""
    if header is None:
        return None
    tags = frozenset(tag.strip() for tag in header.split(","))
    return None if "*" in tags else tags


def if_match() -> frozenset[str] | None:
    """The If-Match tags of the current request (None: any version)."""
    return parse_if_match(request.headers.get("If-Match"))
