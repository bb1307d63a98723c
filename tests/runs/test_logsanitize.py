"""The sanitiser every stored text of a run passes: secrets masked whole, whatever their overlaps."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from runs.logsanitize import MASK, Sanitizer
from stacks.models import MIN_SECRET_LENGTH, Stack


def test_a_secret_is_masked_wherever_it_occurs():
    clean = Sanitizer(["hunter22"])
    assert clean("login hunter22 and again hunter22.") == f"login {MASK} and again {MASK}."


def test_overlapping_secrets_leave_no_part_of_either_readable():
    clean = Sanitizer(["abcd", "cdef"])
    assert clean("xx abcdef yy") == f"xx {MASK} yy"
    assert clean("cdefabcd") == MASK  # touching occurrences are one masked stretch


def test_a_secret_inside_another_is_masked_with_it():
    clean = Sanitizer(["token", "my-token-value"])
    assert clean("my-token-value / token") == f"{MASK} / {MASK}"


def test_repeated_overlapping_occurrences_of_one_secret_are_masked_whole():
    assert Sanitizer(["aaaa"])("baaaaab") == f"b{MASK}b"


def test_a_secret_is_masked_before_an_overlong_line_is_cut():
    secret = "s3cr3t-value"
    stored = Sanitizer([secret])("x" * 98 + secret, limit=100)
    assert stored.startswith("x" * 20)
    assert not any(secret[:n] in stored for n in range(3, len(secret) + 1)), stored


def test_secrets_too_short_to_mask_are_ignored_by_the_sanitiser():
    assert Sanitizer(["ab", ""])("abba cab") == "abba cab"


@pytest.mark.parametrize("value", ["", "a", "abc"])
def test_a_stack_refuses_a_secret_too_short_to_be_masked(db, value):
    stack = Stack(name="s", kind="local", config={}, secrets={"TOKEN": value})
    with pytest.raises(ValidationError) as raised:
        stack.full_clean()
    assert f"TOKEN: too short to be masked in what runs store (at least {MIN_SECRET_LENGTH} characters)" in str(
        raised.value
    )


def test_nul_bytes_and_lone_surrogates_are_stored_visibly_replaced():
    stored = Sanitizer()("a\x00b\udcffc")
    assert "\x00" not in stored and "\udcff" not in stored
    assert stored.startswith("a") and "b" in stored and stored.endswith("c")
