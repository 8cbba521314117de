"""The If-Match header read as the entity tags a write may proceed on."""

import pytest

from api.conditional import parse_if_match


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        (None, None),
        ("*", None),
        ('"1-a", *', None),
        ('"1-a"', frozenset({'"1-a"'})),
        ('"1-a", "2-b"', frozenset({'"1-a"', '"2-b"'})),
        (' "1-a" ,"2-b" ', frozenset({'"1-a"', '"2-b"'})),
    ],
)
def test_if_match_lists_tags_or_any_version(header, tags):
    """No header or `*` is any version (None); otherwise the listed tags, spaces around them dropped."""
    assert parse_if_match(header) == tags
