"""Argon2id's cost parameters: apart from the primitives, so that agent.toml's ``[store]`` is read without them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """Argon2id cost parameters (memory in KiB)."""

    memory_kib: int
    iterations: int
    lanes: int

    FLOOR_MEMORY_KIB = 64 * 1024
    FLOOR_ITERATIONS = 3

    def meets_floor(self) -> bool:
        """RFC 9106's second recommended setting is the least we accept: 64 MiB, t=3."""
        return self.memory_kib >= self.FLOOR_MEMORY_KIB and self.iterations >= self.FLOOR_ITERATIONS


# About 0.5 s on the reference 2-core machine (bench/bench_store.py times an unlock).
DEFAULT_PASSPHRASE_KDF = Argon2Parameters(memory_kib=256 * 1024, iterations=4, lanes=2)
# PIN hashes: checked at every sign-in, so cheaper; still above OWASP's minimum.
PIN_KDF = Argon2Parameters(memory_kib=64 * 1024, iterations=3, lanes=4)
