"""--mix: the weights as typed, the largest-remainder split of a level's users, the placement of global user indices
on models and the rate split (harness.load.mix), checked against counts worked out by hand."""

from __future__ import annotations

import itertools

import pytest

from harness.errors import ConfigError
from harness.load.mix import MixPlan, check_mix_models, format_mix, parse_mix, split_counts


def test_a_mix_reads_as_typed_and_round_trips() -> None:
    assert parse_mix("a=3, b=1") == (("a", 3.0), ("b", 1.0))
    assert parse_mix(format_mix(parse_mix("x=0.5,y=2,z=1"))) == (("x", 0.5), ("y", 2.0), ("z", 1.0))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a=3,b=0", "positive number"),
        ("a=3,b=-1", "positive number"),
        ("a=3,b=x", "positive number"),
        ("a=3,b=nan", "positive number"),
        ("a=3,b=inf", "positive number"),
        ("a=3,b", "MODEL=WEIGHT"),
        ("a=3,=1", "MODEL=WEIGHT"),
        ("a=3", "two or more"),
        ("a=1,a=2", "twice"),
    ],
)
def test_bad_weights_are_one_line_naming_the_fix(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        parse_mix(text)
    assert "\n" not in str(caught.value)


def test_mix_and_model_must_name_the_same_models() -> None:
    check_mix_models(parse_mix("a=1,b=1"), ("a", "b"))
    with pytest.raises(ConfigError, match="--model c has no weight in --mix"):
        check_mix_models(parse_mix("a=1,b=1"), ("a", "b", "c"))
    with pytest.raises(ConfigError, match="--mix names b, which --model does not"):
        check_mix_models(parse_mix("a=1,b=1"), ("a",))


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (4, (3, 1), (3, 1)),
        (8, (3, 1), (6, 2)),
        (5, (3, 1), (4, 1)),  # exact 3.75 / 1.25: 3 + 1, the one left to the larger remainder
        (6, (3, 1), (5, 1)),  # 4.5 / 1.5: the tie goes to the earlier model
        (3, (10, 1), (2, 1)),  # 2.73 / 0.27 would be 3 / 0: every model gets one where the level allows
        (2, (3, 1), (1, 1)),  # as many users as models: one each
        (1, (3, 1), (1, 0)),  # fewer users than models: largest share first
        (3, (1, 1, 1), (1, 1, 1)),
        (10, (1, 1, 1), (4, 3, 3)),  # a tie goes to the earlier model
        (4, (1, 1, 10), (1, 1, 2)),
        (7, (1, 2, 4), (1, 2, 4)),
        (0, (3, 1), (0, 0)),
    ],
)
def test_users_split_by_largest_remainder(total: int, weights: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert split_counts(total, tuple(map(float, weights))) == expected


@pytest.mark.parametrize(("total", "weights"), itertools.product(range(0, 40), [(3.0, 1.0), (1.0, 2.5, 0.5), (1.0, 1.0)]))
def test_a_split_sums_to_the_total_and_strays_less_than_one_user_from_its_share(total: int, weights: tuple[float, ...]) -> None:
    counts = split_counts(total, weights)
    exact = [total * w / sum(weights) for w in weights]
    assert sum(counts) == total
    if total >= len(weights):
        assert min(counts) >= 1
    if total >= len(weights) and min(exact) < 1:
        return  # a part raised to one user: the others gave it
    for count, share in zip(counts, exact, strict=True):  # Hamilton's method: never a whole user from the share
        assert abs(count - share) < 1


def test_global_indices_fill_each_model_with_its_count_and_local_indices() -> None:
    plan = MixPlan(parse_mix("a=3,b=1"))
    closed = [plan.assign(i, 8, open_loop=False) for i in range(8)]
    assert [p.model for p in closed] == ["a", "b", "a", "a", "a", "a", "b", "a"]  # one each, then by deficit
    assert [p.local_index for p in closed] == [0, 0, 1, 2, 3, 4, 1, 5]
    assert {p.count for p in closed if p.model == "b"} == {2}
    assert plan.counts(8, open_loop=False) == (6, 2)
    opened = [plan.assign(i, 4, open_loop=True) for i in range(4)]  # open loop: the same senders each
    assert [(p.model, p.local_index, p.count) for p in opened] == [("a", 0, 2), ("a", 1, 2), ("b", 0, 2), ("b", 1, 2)]


def test_the_rate_splits_by_weight() -> None:
    plan = MixPlan(parse_mix("a=3,b=1"))
    assert plan.rate_of("a", 80.0) == pytest.approx(60.0)
    assert plan.rate_of("b", 80.0) == pytest.approx(20.0)
    assert plan.share_of("b") == pytest.approx(0.25)


@pytest.mark.parametrize("weights", ["a=3,b=1", "a=1,b=1,c=5", "a=0.2,b=0.7", "a=10,b=1,c=1"])
def test_users_added_mid_test_keep_the_mix(weights: str) -> None:
    """The web UI can raise the user count mid-test: the users beyond the count a level started with are dealt
    by the same sequence, so every count of users is split as the whole level's split would be (within one user
    of the largest-remainder split, which also serves each model), and the recorded counts are the dealt ones."""
    plan = MixPlan(parse_mix(weights))
    weights_only = tuple(w for _, w in plan.weights)
    for users in range(1, 60):
        started_with = max(users // 2, 1)  # what the placements were told: the count before the raise
        models = [plan.assign(i, started_with, open_loop=False).model for i in range(users)]
        dealt = tuple(models.count(m) for m in plan.models)
        if users >= len(dealt):
            assert all(abs(d - h) <= 1 for d, h in zip(dealt, split_counts(users, weights_only), strict=True)), users
            assert min(dealt) >= 1
        else:  # fewer users than models: the heaviest models get one each
            heaviest = sorted(weights_only, reverse=True)[users - 1]
            assert all(w >= heaviest for w, d in zip(weights_only, dealt, strict=True) if d)
        assert plan.counts(users, open_loop=False) == dealt
