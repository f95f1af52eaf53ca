"""Several models served together (--mix): the flags that ask for it (and refuse what cannot be), a mixed level's
per-model figures as summarize_level builds them from the master's merged windows, and the rule that a mixed level
meets its SLO only when every model meets its own. Figures worked out by hand from the windows given."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from harness import defaults
from harness.analysis.capacity import capacity, meets_slo
from harness.cli.main import build_parser
from harness.cli.sweep_flags import spec_from_args
from harness.errors import ConfigError
from harness.load.aggregate import Tally
from harness.record.model import InstanceGroup, Level, Run, Slo, run_from_dict, run_to_dict
from harness.record.server_statistics import StatsSnapshot, combined
from harness.record.store import levels_csv
from harness.report.run_page import capacity_sentence
from harness.sweep.rules import ConcurrencySearch
from harness.sweep.runner import summarize_level
from harness.sweep.spec import SweepSpec
from helpers.factories import mix_run, tally

SPEC = SweepSpec(
    model="a", models=("a", "b"), instances=(InstanceGroup(),), slo=Slo("p99", 100.0), mix=(("a", 3.0), ("b", 1.0))
)


def _spec(*argv: str) -> SweepSpec:
    return spec_from_args(build_parser().parse_args(["sweep", *argv]))


def test_mix_flags_become_the_spec() -> None:
    spec = _spec("--model", "a,b", "--mix", "a=3,b=1", "--slo", "a:p99=50ms,b:p90=0.2s")
    assert spec.mix == (("a", 3.0), ("b", 1.0)) and spec.curve_models == ("a",)
    assert spec.slo_of("a") == Slo("p99", 50.0) and spec.slo_of("b") == Slo("p90", 200.0)
    assert spec.slo == Slo("p99", 100.0)  # the run's own: the default, as no item names no model
    assert _spec("--model", "a,b", "--mix", "a=3,b=1", "--slo", "p95=70ms,b:p99=9ms").slo_of("a") == Slo("p95", 70.0)


def test_without_mix_several_models_stay_one_curve_each() -> None:
    spec = _spec("--model", "a,b")
    assert spec.mix == () and spec.curve_models == ("a", "b") and spec.model_slos == ()


def test_open_loop_levels_run_one_sender_per_worker_and_model() -> None:
    assert _spec("--model", "a,b", "--mix", "a=3,b=1", "--rate", "80", "--workers", "2").rate_senders == 4
    assert _spec("--model", "a", "--rate", "80", "--workers", "2").rate_senders == 2


def test_instances_per_model_make_one_curve_with_each_models_group() -> None:
    spec = _spec("--model", "a,b", "--mix", "a=3,b=1", "--instances", "a=cpu:2x4,b=gpu:1")
    assert spec.instances == (InstanceGroup("CPU", 2, threads=4),)  # one curve
    assert spec.group_of("a", spec.instances[0]) == InstanceGroup("CPU", 2, threads=4)
    assert spec.group_of("b", spec.instances[0]) == InstanceGroup("GPU", 1)
    plain = _spec("--model", "a,b", "--mix", "a=3,b=1", "--instances", "cpu:1,cpu:2")  # every model on each group
    assert plain.model_instances == () and plain.group_of("b", plain.instances[1]) == InstanceGroup("CPU", 2)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--model", "a,b", "--mix", "a=3,b=1", "--instances", "a=cpu:2"], "no group for b"),
        (["--model", "a,b", "--mix", "a=3,b=1", "--instances", "a=cpu:2,c=cpu:1"], "give each model of --mix its group"),
        (["--model", "a,b", "--instances", "a=cpu:2,b=cpu:1"], "add --mix"),
        (["--model", "a,b,c", "--mix", "a=3,b=1"], "--model c has no weight in --mix"),
        (["--model", "a,b", "--mix", "a=3,c=1"], "--model b has no weight"),
        (["--model", "a", "--mix", "a=3,b=1"], "--mix names b, which --model does not"),
        (["--model", "a,b", "--mix", "a=3,b=0"], "positive number"),
        (["--model", "a,b", "--mix", "a=3,b=1", "--slo", "c:p99=5ms"], "c is not a model of this run"),
        (["--model", "a,b", "--slo", "a:p99=5ms"], "add --mix"),
        (["--model", "a,b", "--mix", "a=3,b=1", "--input-data", "x.json"], "--input-data with --mix"),
    ],
)
def test_bad_mixes_are_one_line_before_any_load(argv: list[str], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        _spec(*argv)
    assert "\n" not in str(caught.value)


def _mixed(a: tuple[int, float], b: tuple[int, float], windows: int = 3, spec: SweepSpec = SPEC, served_b: int = 0) -> Level:
    """A closed-loop level of 4 users (3 on a, 1 on b) over 1 s windows: per window, a's and b's (requests,
    latency ms); Triton counts the same per model (b `served_b` more)."""
    tallies = []
    for _ in range(windows):
        parts = {"a": tally(a[0], 1.0, latency_ms=a[1]), "b": tally(b[0], 1.0, latency_ms=b[1])}
        window = Tally()  # the combined figures: both models' requests (as if from two workers: rates add up)
        window.merge(tally(a[0], 1.0, latency_ms=a[1], worker="wa"))
        window.merge(tally(b[0], 1.0, latency_ms=b[1], worker="wb"))
        window.models.update(parts)
        tallies.append(window)
    snapshots = [
        combined(
            {
                "a": StatsSnapshot(success_count=a[0] * i, success_ns=int(a[0] * i * a[1] * 0.9e6)),
                "b": StatsSnapshot(
                    success_count=b[0] * i + (served_b if i == windows else 0), success_ns=int(b[0] * i * b[1] * 0.9e6)
                ),
            }
        )
        for i in range(windows + 1)
    ]
    return summarize_level(spec, 4, None, tallies, snapshots, report_interval_s=defaults.SWEEP_REPORT_INTERVAL_S)


def test_a_mixed_level_records_each_models_figures_and_triton_counts() -> None:
    level = _mixed(a=(300, 10.0), b=(25, 40.0))  # Little: 300/s x 10 ms = 3 users, 25/s x 40 ms = 1 user
    a, b = level.models["a"], level.models["b"]
    assert (a.users, b.users) == (3, 1)
    assert (a.requests, b.requests) == (900, 75) and (a.server_requests, b.server_requests) == (900, 75)
    assert a.achieved_rps == pytest.approx(300.0) and b.achieved_rps == pytest.approx(25.0)
    assert a.latency_ms.p99 == pytest.approx(10.0, rel=0.002) and b.latency_ms.p99 == pytest.approx(40.0, rel=0.002)
    assert a.share == pytest.approx(900 / 975, abs=1e-4) and a.weight == 3.0
    assert a.inconsistent == () and b.inconsistent == () and "inconsistent" not in level.flags
    assert a.slo_met is True and b.slo_met is True and meets_slo(level, SPEC.slo)


def test_a_models_count_that_triton_disagrees_with_fails_the_levels_checks() -> None:
    # b's allowed difference: 2 % of Triton's 75 + x, + 2 x 1 user + 25/s x 0.5 s + 2: x = 18 is within, 19 is not
    assert _mixed(a=(300, 10.0), b=(25, 40.0), served_b=18).models["b"].inconsistent == ()
    level = _mixed(a=(300, 10.0), b=(25, 40.0), served_b=19)
    (text,) = level.models["b"].inconsistent
    assert text.startswith("b server-count:") and text in level.inconsistent and "inconsistent" in level.flags


def test_a_mixed_level_passes_only_when_every_model_meets_its_own_slo() -> None:
    own = replace(SPEC, model_slos=(("a", Slo("p99", 20.0)), ("b", Slo("p99", 30.0))))
    level = _mixed(a=(300, 10.0), b=(25, 40.0), spec=own)  # b at 40 ms misses its 30 ms
    assert level.models["a"].slo_met is True and level.models["b"].slo_met is False
    assert not meets_slo(level, own.slo)  # though the run's p99 <= 100 ms holds for both
    assert capacity([level], own.slo).max_rps_within_slo is None
    looser = replace(own, model_slos=(("a", Slo("p99", 20.0)), ("b", Slo("p99", 50.0))))
    assert meets_slo(_mixed(a=(300, 10.0), b=(25, 40.0), spec=looser), own.slo)
    # without models' own SLOs, a reader's SLO judges every model: p99 <= 30 ms fails b
    assert not meets_slo(_mixed(a=(300, 10.0), b=(25, 40.0)), Slo("p99", 30.0))


def test_a_mixed_level_survives_run_json_and_old_levels_read_without_models() -> None:
    level = _mixed(a=(300, 10.0), b=(25, 40.0))
    from harness.record.model import Curve, Metadata

    run = Run(Metadata(), Slo(), curves=(Curve("a", InstanceGroup(), levels=(level,), mix={"a": 3.0, "b": 1.0}),))
    again = run_from_dict(json.loads(json.dumps(run_to_dict(run))))
    assert again.curves[0].levels[0].models == level.models and again.curves[0].mix == {"a": 3.0, "b": 1.0}
    data = run_to_dict(run)
    del data["curves"][0]["levels"][0]["models"], data["curves"][0]["mix"]
    old = run_from_dict(data).curves[0]
    assert old.levels[0].models == {} and old.mix == {}


def test_the_summary_names_each_models_slo_and_figures_at_the_mixs_capacity() -> None:
    mixed = mix_run()
    sentence = capacity_sentence(mixed, mixed.curves[0])
    # b misses its own p99 <= 30 ms at concurrency 8 (45 ms): the mix's capacity is concurrency 4, both models named
    assert sentence == (
        "a=3,b=1 cpu:1 sustains 325 req/s within each model's SLO (a: p99 <= 100 ms, b: p99 <= 30 ms) "
        "(at concurrency 4; a 300 req/s, p99 10 ms; b 25 req/s, p99 20 ms)"
    )


def test_the_concurrency_search_of_a_mix_starts_with_a_user_per_model_and_stops_when_a_model_misses_its_slo() -> None:
    own = replace(SPEC, model_slos=(("b", Slo("p99", 30.0)),))
    search = ConcurrencySearch(own.slo, start=2)
    assert search.next_level([]) == 2
    within = _mixed(a=(300, 10.0), b=(25, 20.0), spec=own)
    assert search.next_level([within]) == 8  # (recorded as 4 users) doubled
    assert search.next_level([within, _mixed(a=(600, 10.0), b=(25, 40.0), spec=own)]) is None  # b at 40 ms > 30


def test_levels_csv_has_each_models_row_after_the_mixs_own() -> None:
    mixed = mix_run()
    rows = list(csv.DictReader(io.StringIO(levels_csv(mixed))))
    assert [(r["model"], r["mix_model"], r["concurrency"]) for r in rows] == [
        ("a", "", "4"),
        ("a", "a", "3"),
        ("b", "b", "1"),
        ("a", "", "8"),
        ("a", "a", "6"),
        ("b", "b", "2"),
    ]
    part = mixed.curves[0].levels[1].models["b"]
    assert int(rows[5]["requests"]) == part.requests and float(rows[5]["p99_ms"]) == part.latency_ms.p99


def test_a_rate_search_probe_of_a_mix_breaks_when_one_model_breaks_its_own_slo() -> None:
    """--rate auto weighs each model's count of requests over its own limit (recorded per model), so a mix whose
    combined p99 is within the run's 100 ms fails where b's 40 ms breaks b's own 30 ms."""
    from harness.analysis.capacity import probe_evidence

    own = replace(SPEC, model_slos=(("b", Slo("p99", 30.0)),))
    breaking = _mixed(a=(300, 10.0), b=(25, 40.0), spec=own)
    assert breaking.models["b"].slo_over == breaking.models["b"].slo_sample == 75  # every b request over 30 ms
    assert breaking.models["a"].slo_over == 0 and breaking.models["a"].slo_sample == 900
    assert probe_evidence(replace(breaking, models={}), own.slo) == "within"  # the combined figures alone pass
    assert probe_evidence(breaking, own.slo) == "breaks"
    # b within its limit: 75 requests are too few to show its p99 below it ("doubtful"), which a probe passes
    assert probe_evidence(_mixed(a=(300, 10.0), b=(25, 20.0), spec=own), own.slo) == "doubtful"
