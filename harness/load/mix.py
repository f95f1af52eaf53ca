"""Several models served together in one level (--mix a=3,b=1): the weights as users type them, and how a level's
users or rate are split among the models. Pure: no Locust, no gRPC; workers, the sweep and the CLI share it.

Closed loop: global user indices are dealt to the models in a sequence that depends on the index alone (first one
user per model, heaviest first, then each next user to the model furthest below its share), so any number of users, the
level's or a count raised mid-test in the web UI, is split by weight within one user of the exact share, each
model at least one user where there are as many users as models. Open loop: the rate is split by weight and each
model gets the same number of senders (largest-remainder rounding), in contiguous blocks in the mix's order, so a
model's schedule is its own seeded stream at exactly its share of the rate. Every user of a level gets a global
index from the master (harness.load.senders), so the per-model counts are exact whatever the users-per-worker
dispatch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from harness.errors import ConfigError

Weights = tuple[tuple[str, float], ...]  # (model, weight) in the order the user gave them


def parse_mix(text: str) -> Weights:
    """'a=3,b=1' -> (('a', 3.0), ('b', 1.0)). A ConfigError in one line for anything else."""
    pairs: list[tuple[str, float]] = []
    for item in (part.strip() for part in (text or "").split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not item or not sep or not name:
            raise ConfigError(f"--mix {text!r}: {item!r} is not MODEL=WEIGHT; give for example --mix a=3,b=1")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigError(
                f"--mix {text!r}: the weight of {name} ({value.strip()!r}) must be a positive number, e.g. {name}=1"
            )
        if name in dict(pairs):
            raise ConfigError(f"--mix {text!r}: {name} is given twice; give each model once")
        pairs.append((name, weight))
    if len(pairs) < 2:
        raise ConfigError(f"--mix {text!r}: a mix serves several models; give two or more, e.g. --mix a=3,b=1")
    return tuple(pairs)


def check_mix_models(weights: Weights, models: tuple[str, ...]) -> None:
    """--mix and --model must name the same models (ConfigError naming the odd one out)."""
    mixed = [name for name, _ in weights]
    if missing := [m for m in models if m not in mixed]:
        raise ConfigError(
            f"--model {missing[0]} has no weight in --mix; add {missing[0]}=WEIGHT to --mix or drop it from --model"
        )
    if extra := [m for m in mixed if m not in models]:
        raise ConfigError(f"--mix names {extra[0]}, which --model does not; add it to --model or drop it from --mix")


def format_mix(weights: Weights) -> str:
    """The mix as --mix reads it (carried to the workers as one Locust option)."""
    return ",".join(f"{name}={weight:g}" for name, weight in weights)


def split_counts(total: int, weights: tuple[float, ...]) -> tuple[int, ...]:
    """`total` split by `weights`, largest remainders first (ties to the earlier model); then, where total allows it,
    each part at least 1 (a model with no user is not served at all), taken from the part furthest above its share."""
    k = len(weights)
    if total <= 0 or k == 0:
        return (0,) * k
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(k), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    while total >= k and 0 in counts:
        donor = max((i for i in range(k) if counts[i] > 1), key=lambda i: (counts[i] - exact[i], -i))
        counts[donor] -= 1
        counts[counts.index(0)] += 1
    return tuple(counts)


@lru_cache(maxsize=64)
def dealing(users: int, weights: tuple[float, ...]) -> tuple[int, ...]:
    """The model (its position in the mix) of each of the first `users` global indices: one per model first,
    heaviest first, then each next to the model furthest below its share of the users dealt so far (ties to the
    earlier model). Each prefix is split as the largest-remainder split would be, within one user, so users added
    later keep the mix."""
    heaviest_first = sorted(range(len(weights)), key=lambda m: (-weights[m], m))
    total, dealt = sum(weights), heaviest_first[:users]
    counts = [1 if m in dealt else 0 for m in range(len(weights))]
    for n in range(len(dealt), users):
        deficit = [(n + 1) * w / total - c for w, c in zip(weights, counts, strict=True)]
        model = max(range(len(weights)), key=lambda m: (deficit[m], -m))
        counts[model] += 1
        dealt.append(model)
    return tuple(dealt)


@dataclass(frozen=True)
class Assignment:
    """Which model a level's user with a global index loads, and as which of that model's users."""

    model: str
    local_index: int  # 0..count-1 among the model's users (its open-loop sender index)
    count: int  # the model's users (its open-loop senders) in this level


@dataclass(frozen=True)
class MixPlan:
    weights: Weights

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)

    def counts(self, users: int, open_loop: bool) -> tuple[int, ...]:
        """Users per model: by weight (closed loop, the first `users` of the dealing sequence), or the same for
        each (open loop: the rate carries the weight)."""
        if not open_loop:
            dealt = dealing(users, tuple(w for _, w in self.weights))
            return tuple(dealt.count(m) for m in range(len(self.weights)))
        return split_counts(users, tuple(1.0 for _ in self.weights))

    def assign(self, index: int, users: int, open_loop: bool) -> Assignment:
        """The model of global user `index`: closed loop, the dealing sequence's (whatever the level's count);
        open loop, among `users` senders in contiguous blocks in the mix's order."""
        if not open_loop:
            dealt = dealing(max(index + 1, users), tuple(w for _, w in self.weights))
            model = dealt[index]
            count = max(dealt[:users].count(model), dealt[: index + 1].count(model))
            return Assignment(self.weights[model][0], dealt[:index].count(model), count)
        start = 0
        for (name, _), count in zip(self.weights, self.counts(users, open_loop), strict=True):
            if index < start + count:
                return Assignment(name, index - start, count)
            start += count
        last = self.weights[-1][0]  # more users than the level announced (a late joiner): the last model
        return Assignment(last, index - start, max(self.counts(users, open_loop)[-1], 1))

    def rate_of(self, model: str, rate: float) -> float:
        """A model's share of an open-loop level's rate."""
        weights = dict(self.weights)
        return rate * weights[model] / sum(weights.values())

    def share_of(self, model: str) -> float:
        weights = dict(self.weights)
        return weights[model] / sum(weights.values())
