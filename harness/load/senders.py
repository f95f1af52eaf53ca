"""Global open-loop sender indices, handed out by the master (or a local runner) for each test.

A per-process user index repeats on every worker, so constant schedules started in lockstep and Poisson
streams were copies. Each process asks the master for an index per open-loop user (a Locust custom message);
the master numbers them 0, 1, 2... across all processes in the order asked, so the level's senders are
exactly 0..n-1 whatever the users-per-worker dispatch. No Locust here: the plugin carries the messages.
"""

from __future__ import annotations

from dataclasses import dataclass

ASK = "harness_sender_ask"  # process -> master: {"test": start instant, "keys": [local user index, ...]}
GIVE = "harness_sender_give"  # master -> process: {"test": start instant, "indices": [[local key, global index]]}


@dataclass
class SenderRegistry:
    """The master's numbering for one test (identified by its common start instant)."""

    test: float = 0.0
    _next: int = 0
    _given: dict[tuple[str, int], int] | None = None

    def reset(self, test: float) -> None:
        self.test, self._next, self._given = test, 0, {}

    def assign(self, process: str, test: float, keys: list[int]) -> list[list[int]]:
        """A global index for each of a process's local keys; the same again if asked twice. A question about
        another test (a late message from the previous level) gets no answer."""
        given = self._given
        if given is None or test != self.test:
            return []
        pairs = []
        for key in keys:
            if (process, key) not in given:
                given[(process, key)] = self._next
                self._next += 1
            pairs.append([key, given[(process, key)]])
        return pairs
