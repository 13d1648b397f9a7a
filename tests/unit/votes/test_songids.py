import pytest
from hypothesis import given
from hypothesis import strategies as st

from votes.songids import from_key, to_key

uint64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(uint64)
def test_every_uint64_fits_bigint_and_round_trips(song_id):
    key = to_key(song_id)
    assert -2**63 <= key < 2**63
    assert from_key(key) == song_id


@given(uint64, uint64)
def test_keys_sort_like_ids(a, b):
    # The Top N tie-break orders by key in SQL and means "song id ascending".
    assert (a < b) == (to_key(a) < to_key(b))


def test_edges():
    assert to_key(0) == -2**63
    assert to_key(2**64 - 1) == 2**63 - 1


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_out_of_range_refused(bad):
    with pytest.raises(ValueError):
        to_key(bad)
