"""paracrine.secret: a Secret is used as its value, shown as ``***``, and masked in every printed text."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from paracrine.secret import MASK, Secret, contains_secret, plain, redact, remember, remember_all


def test_a_secret_is_its_value_where_it_is_used_and_masked_where_shown() -> None:
    secret = Secret("correct horse battery")
    assert secret == "correct horse battery" and secret.upper() == "CORRECT HORSE BATTERY"
    assert f"pw={secret}" == "pw=correct horse battery"
    assert repr(secret) == "Secret('***')" and repr([secret]) == "[Secret('***')]"
    assert secret.value == "correct horse battery" and type(secret.value) is str


def test_a_secret_survives_pickling_as_a_secret() -> None:
    copy = pickle.loads(pickle.dumps(Secret("pickled-value")))
    assert isinstance(copy, Secret) and copy == "pickled-value" and repr(copy) == "Secret('***')"


def test_only_strings_are_secrets() -> None:
    with pytest.raises(TypeError, match="Secret\\(\\) takes a string, got int"):
        Secret(1234)  # type: ignore[arg-type]


def test_redact_masks_every_known_value_longest_first() -> None:
    Secret("abcd-short")
    Secret("abcd-short-and-longer")
    remember("")  # nothing to mask
    remember("xyz")  # too short to search for in output
    text = "a=abcd-short-and-longer b=abcd-short c=xyz"
    assert redact(text) == f"a={MASK} b={MASK} c=xyz"


def test_contains_secret_looks_inside_containers() -> None:
    secret = Secret("deep-inside")
    assert contains_secret(secret)
    assert contains_secret({"a": [1, ("x", {secret})]})
    assert contains_secret([frozenset({secret})])
    assert not contains_secret({"deep-inside": ["deep-inside"], "n": 1})


def test_plain_turns_secrets_into_strings_for_the_wire() -> None:
    secret = Secret("wire-value")
    value = plain({secret: [secret, ("x", 1)], "k": secret, "n": None})
    assert value == {"wire-value": ["wire-value", ["x", 1]], "k": "wire-value", "n": None}
    assert all(type(k) is str for k in value) and type(value["k"]) is str
    assert type(value["wire-value"][0]) is str
    assert plain(Path("/p")) == Path("/p")


def test_remember_all_finds_secrets_in_host_data() -> None:
    inner = str.__new__(Secret, "found-in-data")  # made without registering itself
    assert redact("found-in-data") == "found-in-data"
    remember_all([{"db": {"password": [inner]}}, ("x", inner), "plain"])
    assert redact("found-in-data") == MASK
