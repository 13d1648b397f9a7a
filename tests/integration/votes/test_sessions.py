"""Issue 27, item 7 (the votes side): session generations. Sign-out, a password change
and account deletion end every session of the account."""
from __future__ import annotations

import grpc
import pytest

from billionsongs.v1 import votes_pb2


def check(votes, user_id: int, generation: int):
    return votes.stub.CheckSession(votes_pb2.CheckSessionRequest(user_id=user_id, session_generation=generation),
                                   timeout=10).user


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code()


def test_a_session_lives_until_sign_out_and_sign_out_ends_every_one(votes):
    user = votes.register("sessiony", "secret-1")
    assert user.session_generation >= 1
    signed_in = votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="sessiony", password="secret-1"),
                                        timeout=10).user
    assert signed_in.session_generation == user.session_generation  # two devices, one generation
    assert check(votes, user.user_id, user.session_generation).username == "sessiony"
    votes.stub.EndSessions(votes_pb2.EndSessionsRequest(user_id=user.user_id,
                                                        session_generation=user.session_generation), timeout=10)
    assert code_of(lambda: check(votes, user.user_id, user.session_generation)) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(lambda: check(votes, user.user_id, 0)) == grpc.StatusCode.UNAUTHENTICATED
    # Signing in again starts a new generation; a replayed old sign-out ends nothing.
    again = votes.stub.Authenticate(votes_pb2.AuthenticateRequest(username="sessiony", password="secret-1"),
                                    timeout=10).user
    assert again.session_generation > user.session_generation
    votes.stub.EndSessions(votes_pb2.EndSessionsRequest(user_id=user.user_id,
                                                        session_generation=user.session_generation), timeout=10)
    assert check(votes, user.user_id, again.session_generation).user_id == user.user_id


def test_a_password_change_ends_every_session_and_hands_out_the_next(votes):
    user = votes.register("changer", "secret-1")
    changed = votes.stub.ChangePassword(votes_pb2.ChangePasswordRequest(
        user_id=user.user_id, old_password="secret-1", new_password="secret-2"), timeout=10).user
    assert changed.session_generation > user.session_generation
    assert code_of(lambda: check(votes, user.user_id, user.session_generation)) == grpc.StatusCode.UNAUTHENTICATED
    assert check(votes, user.user_id, changed.session_generation).username == "changer"


def test_a_deleted_account_has_no_sessions(votes):
    user = votes.register("leaver", "secret-1")
    votes.stub.DeleteAccount(votes_pb2.DeleteAccountRequest(user_id=user.user_id, password="secret-1"), timeout=10)
    assert code_of(lambda: check(votes, user.user_id, user.session_generation)) == grpc.StatusCode.NOT_FOUND
    # Ending the sessions of an account that is gone is nothing to do, not an error.
    votes.stub.EndSessions(votes_pb2.EndSessionsRequest(user_id=user.user_id,
                                                        session_generation=user.session_generation), timeout=10)
