"""A negative or too large integer is bad input like any other: ValueError naming it.

pyo3 raises OverflowError when a negative int meets an unsigned Rust parameter; the package
turns it into the ValueError every other bad input raises.
"""

import numpy as np
import pytest

import mithridate.attack as attack
import mithridate.text as text


def test_a_negative_seed_is_a_value_error():
    x = np.random.default_rng(0).random((20, 4), dtype=np.float32)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="out of range"):
        attack.LabelFlip()(x, y, rate=0.1, seed=-1)


def test_a_negative_size_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="train=-1"):
        text.attack(train=-1)


def test_an_integer_beyond_64_bits_is_a_value_error():
    with pytest.raises(ValueError, match="out of range"):
        text.attack(seed=2**70)
