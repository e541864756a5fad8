"""Counter-based randomness: every random number is a pure function of (seed, stream, keys).

Why not one ``numpy.random.Generator`` for the whole run: then the numbers an animal gets on
day 12 would depend on how many were drawn before, so generating days [0, 30) in one go and in
pieces would differ, and live mode (one 10-minute window at a time) could never reproduce the
batch. Hashing (seed, stream, animal, slot) with splitmix64 gives the same value wherever and
in whatever order it is computed, fully vectorised over numpy arrays.

The sequential reproduction timeline (heat -> insemination -> calving ...) uses ordinary
generators instead, one per (seed, animal, process), which are independent of the window.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


class Stream(IntEnum):
    """Independent random streams; values are part of the output contract (keep them stable)."""

    COW = 1
    TEMP_NOISE = 2
    ACT_NOISE = 3
    PH_NOISE = 4
    DRINK = 5
    WEATHER = 6
    ARTEFACT = 7
    GAP = 8
    LATE = 9
    DELIVERY = 10
    CLIMATE_NOISE = 11
    CLIMATE_ARTEFACT = 12


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def hash_u64(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of the seed, the stream and any number of integer key arrays (broadcast)."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray([(seed * 1_000_003 + stream) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        for key in keys:
            k = np.asarray(key).astype(np.int64).view(np.uint64) if np.ndim(key) else np.asarray(
                [int(key) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
            h = _mix((h ^ k) + _GOLDEN)
    return h


def uniform(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform floats in the open interval (0, 1)."""
    h = hash_u64(seed, stream, *keys)
    return ((h >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normal(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Standard normal floats (Box-Muller on two sub-streams of the same keys)."""
    u1 = uniform(seed, stream, 0, *keys)
    u2 = uniform(seed, stream, 1, *keys)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def animal_generator(seed: int, animal_id: int, process: int) -> np.random.Generator:
    """A sequential generator for one animal's timeline process (reproduction, mastitis, ...)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, animal_id, process])))
