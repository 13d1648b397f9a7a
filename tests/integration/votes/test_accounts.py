"""Accounts over a real gRPC channel against real PostgreSQL."""
import statistics
import time

import grpc
import psycopg
import pytest

from billionsongs.v1 import votes_pb2
from votes.accounts import Passwords
from votes.settings import Argon2Settings

UP, DOWN = votes_pb2.VOTE_UP, votes_pb2.VOTE_DOWN


def code_of(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_register_then_authenticate_any_case(votes):
    user = votes.register("Alice", "tulips")
    assert user.user_id > 0 and user.username == "Alice"
    again = votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="aLICE", password="tulips"), timeout=10)
    assert again.user == user


def test_names_are_unique_regardless_of_case(votes):
    votes.register("Alice")
    code, details = code_of(lambda: votes.register("ALICE"))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "taken" in details


@pytest.mark.parametrize("name, password, fragment", [
    ("ab", "tulips", "3 to 32"), ("x" * 33, "tulips", "3 to 32"), ("bad name", "tulips", "ASCII letters"),
    ("x" * 10_000, "tulips", "3 to 32"), ("alice", "abc", "at least 5"), ("alice", "aaaaaaa", "4 different"),
    ("alice", "abcd" * 300, "at most 1024"),
])
def test_bad_names_and_passwords_are_invalid_argument(votes, name, password, fragment):
    code, details = code_of(lambda: votes.register(name, password))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fragment in details


def test_unknown_user_and_wrong_password_get_the_same_answer(votes):
    votes.register("alice", "tulips")
    unknown = code_of(lambda: votes.stub.Authenticate(
        votes_pb2.AuthenticateRequest(username="nobody", password="tulips"), timeout=10))
    wrong = code_of(lambda: votes.stub.Authenticate(
        votes_pb2.AuthenticateRequest(username="alice", password="roses"), timeout=10))
    invalid_name = code_of(lambda: votes.stub.Authenticate(
        votes_pb2.AuthenticateRequest(username="no such name!", password="x"), timeout=10))
    assert unknown == wrong == invalid_name == (grpc.StatusCode.UNAUTHENTICATED, "wrong username or password")


def test_unknown_user_and_wrong_password_take_similar_time(votes_factory):
    # Hashes costly enough (~10+ ms) that skipping the hash would stand out
    # by far more than the noise of a shared machine.
    running = votes_factory(ARGON2_TIME_COST="2", ARGON2_MEMORY_COST="16384")
    running.register("alice", "tulips")

    def timed(name):
        request = votes_pb2.AuthenticateRequest(username=name, password="roses")
        samples = []
        for _ in range(7):
            begin = time.perf_counter()
            with pytest.raises(grpc.RpcError):
                running.stub.Authenticate(request, timeout=10)
            samples.append(time.perf_counter() - begin)
        return statistics.median(samples)

    wrong, unknown = timed("alice"), timed("nobody")
    assert 1 / 3 < unknown / wrong < 3, (unknown, wrong)


def test_login_upgrades_a_hash_made_with_older_parameters(votes, postgres_url):
    user = votes.register("alice", "tulips")
    weaker = Passwords(Argon2Settings(time_cost=1, memory_cost_kib=32, parallelism=1)).hash("tulips")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET password_hash = %s WHERE user_id = %s", (weaker, user.user_id))
    votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="alice", password="tulips"), timeout=10)
    with psycopg.connect(postgres_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE user_id = %s", (user.user_id,)).fetchone()[0]
    assert stored != weaker and not votes.app.service.passwords.needs_rehash(stored)
    votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="alice", password="tulips"), timeout=10)


def test_change_password(votes):
    user = votes.register("alice", "tulips")
    code, _ = code_of(lambda: votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=user.user_id, old_password="roses", new_password="daisies"), timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, details = code_of(lambda: votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=user.user_id, old_password="tulips", new_password="aaaa"), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at least 5" in details
    votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=user.user_id, old_password="tulips", new_password="daisies"), timeout=10)
    code, _ = code_of(lambda: votes.stub.Authenticate(
        votes_pb2.AuthenticateRequest(username="alice", password="tulips"), timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="alice", password="daisies"), timeout=10)


def test_change_password_of_unknown_or_invalid_user(votes):
    code, _ = code_of(lambda: votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=999, old_password="tulips", new_password="daisies"), timeout=10))
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = code_of(lambda: votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=-1, old_password="tulips", new_password="daisies"), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in details


def test_delete_account_removes_its_votes_and_keeps_counts_right(votes):
    alice, bob = votes.register("alice"), votes.register("bob")
    votes.vote(alice.user_id, 1, UP)
    votes.vote(bob.user_id, 1, UP)
    votes.vote(alice.user_id, 2, DOWN)
    code, _ = code_of(lambda: votes.stub.DeleteAccount(
        votes_pb2.DeleteAccountRequest(user_id=alice.user_id, password="wrong"), timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    votes.stub.DeleteAccount(votes_pb2.DeleteAccountRequest(user_id=alice.user_id, password="secret-1"), timeout=10)

    def counts(song):
        v = votes.stub.GetSongVotes(votes_pb2.GetSongVotesRequest(song_id=song, model_release="r1"), timeout=10).votes
        return v.up, v.down, v.score
    assert counts(1) == (1, 0, 1)
    assert counts(2) == (0, 0, 0)
    top = votes.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r1"), timeout=10).songs
    assert [(s.song_id, s.up) for s in top] == [(1, 1)]
    code, _ = code_of(lambda: votes.stub.Authenticate(
        votes_pb2.AuthenticateRequest(username="alice", password="secret-1"), timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = code_of(lambda: votes.vote(alice.user_id, 1, UP))
    assert code == grpc.StatusCode.NOT_FOUND
    # The name is free again.
    assert votes.register("Alice").user_id != alice.user_id


# -- NFKC normalisation of passwords and names ---------------------------------

NFC, NFD = "Caf\u00e9 tulips", "Cafe\u0301 tulips"


def authenticate(votes, name, password):
    return votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username=name, password=password), timeout=10)


def stored_hash(postgres_url, user_id):
    with psycopg.connect(postgres_url) as conn:
        return conn.execute("SELECT password_hash FROM users WHERE user_id = %s", (user_id,)).fetchone()[0]


def test_password_registered_in_nfc_is_accepted_in_nfd_and_back(votes):
    user = votes.register("alice", NFC)
    assert authenticate(votes, "alice", NFD).user == user
    bob = votes.register("bob", NFD)
    assert authenticate(votes, "bob", NFC).user == bob
    code, _ = code_of(lambda: authenticate(votes, "bob", "Cafe tulips"))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_a_hash_of_the_raw_password_is_accepted_once_and_rehashed_normalised(votes, postgres_url):
    user = votes.register("alice", "placeholder")
    passwords = votes.app.service.passwords
    legacy = passwords.hasher.hash(NFD)  # as stored before normalisation: the raw NFD text
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET password_hash = %s WHERE user_id = %s", (legacy, user.user_id))
    assert authenticate(votes, "alice", NFD).user == user  # the raw form, once
    rehashed = stored_hash(postgres_url, user.user_id)
    assert rehashed != legacy and passwords.check(rehashed, NFC) == (True, False)
    assert authenticate(votes, "alice", NFC).user == user  # now either form
    assert authenticate(votes, "alice", NFD).user == user
    assert stored_hash(postgres_url, user.user_id) == rehashed  # no more rehashing


def test_change_password_and_delete_account_take_either_form(votes):
    user = votes.register("alice", NFC)
    votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=user.user_id, old_password=NFD, new_password="ｄａｉｓｉｅｓ"), timeout=10)
    signed_in = authenticate(votes, "alice", "daisies").user
    assert (signed_in.user_id, signed_in.username) == (user.user_id, user.username)
    votes.stub.DeleteAccount(votes_pb2.DeleteAccountRequest(user_id=user.user_id, password="daisies"), timeout=10)


def test_full_width_names_are_the_ascii_name(votes):
    user = votes.register("ａｌｉｃｅ", "tulips")
    assert user.username == "alice"
    assert authenticate(votes, "ＡＬＩＣＥ", "tulips").user == user
    code, details = code_of(lambda: votes.register("alice"))
    assert code == grpc.StatusCode.ALREADY_EXISTS
