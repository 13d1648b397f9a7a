"""Bad input gets INVALID_ARGUMENT / NOT_FOUND with a clear message, never INTERNAL."""
import grpc
import pytest

from billionsongs.v1 import votes_pb2

UP = votes_pb2.VOTE_UP


@pytest.fixture
def alice(votes):
    return votes.register("alice").user_id


def cast(**fields):
    base = {"user_id": 1, "song_id": 1, "model_release": "r1", "vote": UP, "title": "t", "lyrics": "l"}
    return "CastVote", votes_pb2.CastVoteRequest(**{**base, **fields})


CASES = [
    (cast(model_release=""), grpc.StatusCode.INVALID_ARGUMENT, "model_release is required"),
    (cast(model_release="r" * 129), grpc.StatusCode.INVALID_ARGUMENT, "at most 128"),
    (cast(user_id=0), grpc.StatusCode.INVALID_ARGUMENT, "user_id must be a positive"),
    (cast(user_id=-5), grpc.StatusCode.INVALID_ARGUMENT, "user_id must be a positive"),
    (cast(user_id=2**63 - 1), grpc.StatusCode.NOT_FOUND, "no account"),
    (cast(vote=9), grpc.StatusCode.INVALID_ARGUMENT, "vote must be"),
    (cast(lyrics="x" * (64 * 1024 + 1)), grpc.StatusCode.INVALID_ARGUMENT, "lyrics must be at most"),
    (cast(title="t" * 1001), grpc.StatusCode.INVALID_ARGUMENT, "title must be at most"),
    (cast(title="a\x00b"), grpc.StatusCode.INVALID_ARGUMENT, "NUL"),
    (("GetSongVotes", votes_pb2.GetSongVotesRequest(song_id=1, model_release="r1", user_id=-1)),
     grpc.StatusCode.INVALID_ARGUMENT, "user_id"),
    (("GetSongVotes", votes_pb2.GetSongVotesRequest(song_id=1, model_release="r1", user_id=12345)),
     grpc.StatusCode.NOT_FOUND, "no account"),
    (("GetSongVotes", votes_pb2.GetSongVotesRequest(song_id=1)), grpc.StatusCode.INVALID_ARGUMENT, "model_release"),
    (("TopSongs", votes_pb2.TopSongsRequest(model_release="r1", limit=-1)), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    (("TopSongs", votes_pb2.TopSongsRequest(model_release="r1", limit=1001)),
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    (("UserVotes", votes_pb2.UserVotesRequest(user_id=1, model_release="r1", limit=-3)),
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    (("UserVotes", votes_pb2.UserVotesRequest(user_id=1, model_release="r1", page_token="garbage!")),
     grpc.StatusCode.INVALID_ARGUMENT, "page_token"),
    (("UserVotes", votes_pb2.UserVotesRequest(user_id=999, model_release="r1")),
     grpc.StatusCode.NOT_FOUND, "no account"),
    (("GetStoredSong", votes_pb2.GetStoredSongRequest(song_id=1, model_release="")),
     grpc.StatusCode.INVALID_ARGUMENT, "model_release"),
    (("DeleteAccount", votes_pb2.DeleteAccountRequest(user_id=999, password="x")),
     grpc.StatusCode.NOT_FOUND, "no account"),
    (("Register", votes_pb2.RegisterRequest(username="a" * 100_000, password="secret")),
     grpc.StatusCode.INVALID_ARGUMENT, "3 to 32"),
]


@pytest.mark.parametrize("call, code, fragment", CASES, ids=[f"{c[0][0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_requests(votes, alice, call, code, fragment):
    method, request = call
    with pytest.raises(grpc.RpcError) as info:
        getattr(votes.stub, method)(request, timeout=10)
    assert info.value.code() == code
    assert fragment in info.value.details()


@pytest.mark.parametrize("method, request_bytes", [
    # field 1 (username) = b"\xff\xfe": not UTF-8
    ("Register", b"\x0a\x02\xff\xfe\x12\x06secret"),
    ("Authenticate", b"\x0a\x02\xc3\x28\x12\x06secret"),
    # CastVote field 3 (model_release) = lone surrogate encoded as UTF-8 (invalid)
    ("CastVote", b"\x08\x01\x10\x01\x1a\x03\xed\xa0\x80"),
    # not protobuf at all (truncated length-delimited field)
    ("TopSongs", b"\x0a\xff"),
])
def test_undecodable_requests_are_invalid_argument(votes, method, request_bytes):
    """Python clients cannot even build such a request; other clients can. gRPC
    Python would answer INTERNAL; the service answers INVALID_ARGUMENT."""
    call = votes.channel.unary_unary(f"/billionsongs.v1.Votes/{method}",
                                     request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
    with pytest.raises(grpc.RpcError) as info:
        call(request_bytes, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in info.value.details()


def test_python_clients_refuse_unencodable_strings_before_sending(votes):
    with pytest.raises(ValueError):
        votes_pb2.RegisterRequest(username="\udcff", password="secret").SerializeToString()
