"""Request checks and page tokens of the gRPC layer (no server, no database)."""
import pytest

from billionsongs.v1 import votes_pb2
from votes import service
from votes.errors import InvalidArgument


def test_page_token_round_trips_and_is_opaque():
    token = service.encode_page_token(7, "r1", 1_700_000_000_123_456, -5)
    assert token.isascii() and "=" not in token
    assert service.decode_page_token(token, 7, "r1") == (1_700_000_000_123_456, -5)
    assert service.decode_page_token("", 7, "r1") is None


@pytest.mark.parametrize("token", [
    "%%%", "abc", "x" * 600,
    service.encode_page_token(8, "r1", 1, 1),   # another user's token
    service.encode_page_token(7, "r2", 1, 1),   # another release
    service.encode_page_token(7, "r1", 1, 2**63),  # key out of bigint range
])
def test_bad_page_tokens_are_invalid_argument(token):
    with pytest.raises(InvalidArgument, match="page_token"):
        service.decode_page_token(token, 7, "r1")


def test_tampered_token_types_are_refused():
    import base64
    raw = base64.urlsafe_b64encode(b'{"u":7,"r":"r1","t":"1","k":1}').decode()
    with pytest.raises(InvalidArgument):
        service.decode_page_token(raw, 7, "r1")


@pytest.mark.parametrize("value, expected", [(0, 10), (1, 1), (1000, 1000)])
def test_limits(value, expected):
    assert service._limit(value, 10) == expected


@pytest.mark.parametrize("value", [-1, 1001, -2**31])
def test_bad_limits(value):
    with pytest.raises(InvalidArgument, match="limit must be 1..1000"):
        service._limit(value, 10)


@pytest.mark.parametrize("release, message", [("", "required"), ("r" * 129, "at most 128"),
                                              ("r\n1", "control characters")])
def test_bad_model_releases(release, message):
    with pytest.raises(InvalidArgument, match=message):
        service._release(release)


def test_votes_map_and_unknown_enum_values_are_refused():
    assert service._vote(votes_pb2.VOTE_UP) == 1
    assert service._vote(votes_pb2.VOTE_DOWN) == -1
    assert service._vote(votes_pb2.VOTE_NONE) == 0
    with pytest.raises(InvalidArgument, match="vote must be"):
        service._vote(7)


def test_text_caps_and_nul():
    assert service._text("ok", "title", 10) == "ok"
    with pytest.raises(InvalidArgument, match="NUL"):
        service._text("a\x00b", "lyrics", 10)
    with pytest.raises(InvalidArgument, match="at most 10 bytes"):
        service._text("é" * 6, "lyrics", 10)
