import pytest

from billionsongs.common.settings import SettingsError, env_bool, env_choice, env_float, env_int, env_str


def test_defaults_apply_when_unset_or_empty():
    assert env_str("X", "dflt", env={}) == "dflt"
    assert env_str("X", "dflt", env={"X": ""}) == "dflt"
    assert env_int("X", 5, env={}) == 5
    assert env_bool("X", True, env={}) is True
    assert env_float("X", 1.5, env={}) == 1.5


def test_values_are_parsed():
    assert env_str("X", env={"X": "a"}) == "a"
    assert env_int("X", env={"X": "42"}) == 42
    assert env_float("X", env={"X": "0.25"}) == 0.25
    assert env_int("X", env={"X": " -7 "}) == -7
    assert env_float("X", env={"X": "2"}) == 2.0 and env_float("X", env={"X": "1e3"}) == 1000.0
    assert env_float("X", env={"X": ".5"}) == 0.5 and env_float("X", env={"X": "5."}) == 5.0
    assert env_bool("X", env={"X": "Yes"}) is True
    assert env_bool("X", env={"X": "off"}) is False
    assert env_choice("X", ("a", "b"), env={"X": "b"}) == "b"


@pytest.mark.parametrize("call, message", [
    (lambda: env_str("DATABASE_URL", env={}), "DATABASE_URL is required"),
    (lambda: env_int("N", env={"N": "ten"}), "N='ten' is not an integer"),
    (lambda: env_int("N", env={"N": "0"}, minimum=1), "below the minimum 1"),
    (lambda: env_int("N", env={"N": "9"}, maximum=8), "above the maximum 8"),
    (lambda: env_bool("B", env={"B": "maybe"}), "not a boolean"),
    (lambda: env_choice("M", ("x", "y"), env={"M": "z"}), "must be one of x, y"),
    (lambda: env_float("F", env={"F": "fast"}), "not a number"),
    (lambda: env_int("N", env={"N": "٣"}), "N='٣' is not an integer"),
    (lambda: env_int("N", env={"N": "²"}), "N='²' is not an integer"),
    (lambda: env_int("N", env={"N": "1_000"}), "N='1_000' is not an integer"),
    (lambda: env_int("N", env={"N": "9" * 5000}), "is not an integer"),
    (lambda: env_float("F", env={"F": "nan"}), "F='nan' is not a number"),
    (lambda: env_float("F", env={"F": "inf"}, minimum=0.0), "F='inf' is not a number"),
    (lambda: env_float("F", env={"F": "١.5"}), "is not a number"),
    (lambda: env_float("F", env={"F": "1_0.5"}), "is not a number"),
])
def test_bad_settings_stop_with_a_message_naming_the_variable(call, message):
    with pytest.raises(SettingsError, match=message):
        call()


def test_load_or_exit_stops_with_one_line_and_status_2(capsys):
    from billionsongs.common.settings import load_or_exit

    assert load_or_exit("svc", lambda: "ok") == "ok"
    with pytest.raises(SystemExit) as stop:
        load_or_exit("svc", lambda: env_str("DATABASE_URL", env={}))
    assert stop.value.code == 2
    assert capsys.readouterr().err == "svc: environment variable DATABASE_URL is required but not set\n"
