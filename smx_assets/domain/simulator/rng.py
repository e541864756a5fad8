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
    ACT_HOUR = 13
    ACT_DAY = 14


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _u64(key: np.ndarray | int) -> np.ndarray:
    if np.ndim(key):
        return np.asarray(key).astype(np.int64).view(np.uint64)
    return np.asarray([int(key) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)


def hash_u64(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of the seed, the stream and any number of integer key arrays (broadcast).

    One splitmix64 finaliser per key; scalar keys are folded into the (scalar) base first, so
    ``hash_u64(seed, s, 3, animal, slot)`` costs two array passes, not three.
    """
    with np.errstate(over="ignore"):
        h = _mix(_u64((seed * 1_000_003 + stream) & 0xFFFFFFFFFFFFFFFF))
        arrays = []
        for key in keys:
            if np.ndim(key):
                arrays.append(key)
            else:
                h = _mix(h ^ (_u64(key) * _GOLDEN))
        for key in arrays:
            h = _mix(h ^ (_u64(key) * _GOLDEN))
    return h


def pack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two non-negative int keys (< 2**31, < 2**32) as one, halving the hashing work."""
    return (np.asarray(a, dtype=np.int64) << np.int64(32)) | (np.asarray(b, dtype=np.int64) & np.int64(0xFFFFFFFF))


def uniform(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform floats in the open interval (0, 1), 53-bit resolution."""
    h = hash_u64(seed, stream, *keys)
    return ((h >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def uniforms3(seed: int, stream: int, *keys: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three independent uniforms (21-bit resolution, fine for rates >= 1e-5) from one hash."""
    h = hash_u64(seed, stream, *keys)
    mask = np.uint64((1 << 21) - 1)
    scale = 1.0 / float(1 << 21)
    return tuple(((((h >> np.uint64(shift)) & mask).astype(np.float64) + 0.5) * scale)  # type: ignore[return-value]
                 for shift in (0, 21, 42))


def normal(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Standard normal floats: Box-Muller on the two 32-bit halves of one hash."""
    h = hash_u64(seed, stream, *keys)
    scale = 1.0 / 4294967296.0
    u1 = ((h >> np.uint64(32)).astype(np.float64) + 0.5) * scale
    u2 = ((h & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * scale
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def animal_generator(seed: int, animal_id: int, process: int) -> np.random.Generator:
    """A sequential generator for one animal's timeline process (reproduction, mastitis, ...)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, animal_id, process])))
