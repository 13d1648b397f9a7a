import pytest

from votes.accounts import Passwords, check_password, check_username
from votes.errors import InvalidArgument
from votes.settings import Argon2Settings

FAST = Argon2Settings(time_cost=1, memory_cost_kib=64, parallelism=1)


@pytest.mark.parametrize("name", ["abc", "Alice", "a.b-c_d", "x" * 32, "007"])
def test_allowed_usernames(name):
    assert check_username(name) == name


@pytest.mark.parametrize("name, rule", [
    ("ab", "3 to 32"), ("x" * 33, "3 to 32"), ("", "3 to 32"),
    ("al ice", "ASCII letters"), ("álice", "ASCII letters"), ("bob\x00", "ASCII letters"),
    ("a/b", "ASCII letters"), ("аlice", "ASCII letters"),  # Cyrillic a: a look-alike
])
def test_refused_usernames_say_which_rule(name, rule):
    with pytest.raises(InvalidArgument, match=rule):
        check_username(name)


@pytest.mark.parametrize("password", ["abcd1", "aabbcd", "ünïcø", "x" * 3 + "abcd"])
def test_allowed_passwords(password):
    assert check_password(password) == password


@pytest.mark.parametrize("password, rule", [
    ("abcd", "at least 5 characters"), ("", "at least 5"),
    ("aaaaaa", "4 different"), ("abcabcabc", "4 different"),
    ("abcd" + "e" * 1021, "at most 1024 bytes"), ("abcd" + "é" * 511, "at most 1024 bytes"),
])
def test_refused_passwords_say_which_rule(password, rule):
    with pytest.raises(InvalidArgument, match=rule):
        check_password(password)


def test_hashes_are_argon2id_and_verify():
    passwords = Passwords(FAST)
    stored = passwords.hash("right horse")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "right horse")
    assert not passwords.verify(stored, "wrong horse")
    assert not passwords.verify("not a hash", "right horse")


def test_unknown_user_costs_a_full_verification(monkeypatch):
    """An unknown user (no stored hash) must still run argon2 verify, so it
    answers in about the same time as a wrong password."""
    passwords = Passwords(FAST)
    calls = []
    real = passwords.hasher

    class Spy:
        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(passwords, "hasher", Spy())
    assert not passwords.verify(None, "whatever")
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")
    # Even the dummy's own password does not let an unknown user in.
    assert not passwords.verify(None, "not the password of anyone")


def test_hash_with_other_parameters_needs_rehash():
    old = Passwords(FAST).hash("right horse")
    stronger = Passwords(Argon2Settings(time_cost=2, memory_cost_kib=128, parallelism=1))
    assert stronger.verify(old, "right horse")
    assert stronger.needs_rehash(old)
    assert not stronger.needs_rehash(stronger.hash("right horse"))


# -- NFKC normalisation (NIST SP 800-63B §5.1.1.2) -----------------------------

NFC, NFD = "Caf\u00e9 au lait", "Cafe\u0301 au lait"


def test_a_password_is_the_same_in_nfc_and_nfd():
    passwords = Passwords(FAST)
    stored = passwords.hash(NFC)
    assert passwords.verify(stored, NFD) and passwords.verify(stored, NFC)
    assert passwords.check(stored, NFD) == (True, False)  # already normalised: nothing to redo
    assert passwords.verify(passwords.hash(NFD), NFC)
    assert passwords.verify(passwords.hash("ｐａｓｓｗｏｒｄ"), "password")  # NFKC: full width is ASCII


def test_a_hash_of_the_raw_form_still_verifies_once_and_asks_for_a_rehash():
    passwords = Passwords(FAST)
    legacy = passwords.hasher.hash(NFD)  # made before normalisation: the raw NFD text
    assert passwords.check(legacy, NFD) == (True, True)
    assert passwords.check(legacy, NFC) == (False, False)
    assert passwords.check(legacy, "wrong password") == (False, False)
    rehashed = passwords.hash(NFD)
    assert passwords.check(rehashed, NFC) == (True, False) and passwords.check(rehashed, NFD) == (True, False)


def test_unknown_user_with_an_unnormalised_password_costs_as_much_as_a_known_one(monkeypatch):
    passwords = Passwords(FAST)
    stored = passwords.hash("right horse")
    calls = []
    real = passwords.hasher

    class Spy:
        def verify(self, stored_hash, password):
            calls.append(stored_hash)
            return real.verify(stored_hash, password)

    monkeypatch.setattr(passwords, "hasher", Spy())
    assert passwords.check(stored, NFD) == (False, False)
    known = len(calls)
    calls.clear()
    assert passwords.check(None, NFD) == (False, False)
    assert len(calls) == known == 2


def test_password_rules_apply_to_the_normalised_form():
    assert check_password(NFD) == NFC
    # one character that NFKC expands past the byte limit
    with pytest.raises(InvalidArgument, match="at most 1024 bytes"):
        check_password("abcd" + "\ufdfa" * 40)


@pytest.mark.parametrize("typed, name", [("ａｌｉｃｅ", "alice"), ("Ａｌｉｃｅ_１", "Alice_1")])
def test_usernames_are_normalised(typed, name):
    assert check_username(typed) == name


def test_a_hash_waits_for_a_free_slot_and_gives_up_at_its_deadline():
    """With every slot taken, a hash waits until its deadline, then says so
    (ResourceExhausted with a retry hint) instead of taking more memory."""
    import threading
    import time

    from votes.errors import ResourceExhausted
    passwords = Passwords(FAST, slots=1)
    entered, release = threading.Event(), threading.Event()
    real = passwords.hasher

    class Slow:
        def hash(self, password):
            entered.set()
            release.wait(10)
            return real.hash(password)

    passwords.hasher = Slow()
    holder = threading.Thread(target=passwords.hash, args=("right horse",))
    holder.start()
    assert entered.wait(10)
    with pytest.raises(ResourceExhausted, match="busy") as refused:
        passwords.verify(None, "other horse", deadline=time.monotonic() + 0.05)
    assert refused.value.retry_after_s > 0
    release.set()
    holder.join()
    passwords.hasher = real
    assert passwords.verify(passwords.hash("right horse", deadline=time.monotonic() + 10), "right horse")


def test_slots_are_at_least_one():
    with pytest.raises(ValueError, match="at least 1"):
        Passwords(FAST, slots=0)
