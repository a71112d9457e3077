"""The tile queue: hands tiles to slots in the kernel's issue order.

Identical tiles are handed out in *chunks* (guided self-scheduling): a slot that asks
while ``r`` identical tiles remain takes ``max(1, r // slots)`` of them as one job. While
plenty remain every slot gets a fair share in one event; near the end of a run chunks
shrink to one tile, so wave quantisation and tail effects are simulated tile by tile.
Simulation cost therefore grows with the number of distinct runs and slots, not with the
number of tiles. ``chunking=False`` hands out one tile per request (the reference the
tests compare against).
"""

from __future__ import annotations

from collections.abc import Sequence

from attnsim.sim.tasks import TileClass


class TileQueue:
    """Run-length encoded tiles, taken front to back.

    Args:
        runs: ``(tile class, count)`` in issue order.
        slots: number of slots that take from the queue (sets the chunk size).
        chunking: hand out chunks of identical tiles (see module docstring).
    """

    def __init__(
        self, runs: Sequence[tuple[TileClass, int]], slots: int, *, chunking: bool = True
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._runs = [(tile, int(count)) for tile, count in runs if count > 0]
        self._slots = slots
        self._chunking = chunking
        self._index = 0
        self._left = self._runs[0][1] if self._runs else 0
        self._remaining = sum(count for _, count in self._runs)

    @property
    def remaining(self) -> int:
        """Tiles not yet handed out (O(1): the engine asks after every chunk)."""
        return self._remaining

    def take(self) -> tuple[TileClass, int] | None:
        """The next chunk ``(tile class, number of tiles)``, or None when empty."""
        if self._index >= len(self._runs):
            return None
        tile = self._runs[self._index][0]
        n = max(1, self._left // self._slots) if self._chunking else 1
        self._left -= n
        self._remaining -= n
        if self._left == 0:
            self._index += 1
            if self._index < len(self._runs):
                self._left = self._runs[self._index][1]
        return tile, n
