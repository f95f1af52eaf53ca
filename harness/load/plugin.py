"""Locust integration: custom options, per-process load context, exact latency histograms shipped to the master.

Importing this module registers its listeners on Locust's events; locustfiles import it (through
harness.load.users). Workers put a WorkerDelta into every `report_to_master`; the master (or a local
runner) merges them in an Aggregator, shows the exact percentiles in a tab of the web UI (harness.load.web),
warns when a load generator is CPU-bound, and writes the merged figures to --latency-file (only when given) at quit.
The Triton endpoint is Locust's Host (--host, the start form's Host field); --triton-url is an alias.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import grpc.experimental.gevent as grpc_gevent
import locust.runners
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness import defaults
from harness.errors import HarnessError
from harness.load.aggregate import Aggregator, WorkerDelta
from harness.load.arrivals import parse_arrivals
from harness.load.client_metrics import LevelSeries, LoadCollector, MetricsEndpoint
from harness.load.clock import injected_skew_s
from harness.load.context import LoadContext
from harness.load.engine.compiled import engine_command, engine_name
from harness.load.mix import format_mix, parse_mix
from harness.load.options import START_AT_OPTION, TOTAL_USERS_OPTION, LoadOptions, triton_endpoint
from harness.load.roster import Roster, host_label, install_worker
from harness.load.senders import ASK, GIVE, SenderRegistry
from harness.load.trace import read_trace
from harness.load.web import LatencyTimeline, guard_start, register_latency_tab, tick_by_default
from harness.load.web_login import require_login

grpc_gevent.init_gevent()  # before any channel exists: gRPC must yield to gevent, not block the process


def _early_report_interval() -> None:
    """A worker's first report sleep starts before our init listener runs, with Locust's 3 s: read
    --report-interval now (the locustfile is imported before the runner exists), or the first delta of a
    sweep's first level covers 3 s and spills warm-up requests into its first measured window."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--report-interval", type=float, default=os.environ.get("LOCUST_REPORT_INTERVAL"))
    try:
        value = early.parse_known_args(sys.argv[1:])[0].report_interval
    except (SystemExit, ValueError):
        return
    if value is not None and "--worker" in sys.argv:
        locust.runners.WORKER_REPORT_INTERVAL = float(value)


_early_report_interval()

log = logging.getLogger("harness")


@dataclass
class HarnessState:
    """Everything the harness keeps on a Locust Environment, declared here (as Locust declares its Environment's own
    attributes), under the one attribute STATE_ATTRIBUTE."""

    context: LoadContext  # this process's load: options, engine, counters
    aggregator: Aggregator | None = None  # off workers: the exact merge of the workers' histograms
    senders: SenderRegistry | None = None  # off workers: open-loop global sender indices
    roster: Roster | None = None  # on a master: the accepted, refused and lost workers
    timeline: LatencyTimeline | None = None  # with a web UI: the live exact p50/p99 chart
    sampler: gevent.Greenlet | None = None  # feeds the timeline


STATE_ATTRIBUTE = "harness"


def state_of(environment: Environment) -> HarnessState:
    state = getattr(environment, STATE_ATTRIBUTE, None)
    assert isinstance(state, HarnessState), "harness.load.plugin.install was not called on this environment"
    return state


OPEN_LOOP_USER = "TritonOpenLoopUser"  # users.py imports this module, so the class is known here by name


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    group = parser  # Locust's parser: its add_argument knows include_in_web_ui
    # The Triton endpoint is Locust's own Host (--host, the start form's Host field); --triton-url stays an alias.
    group.add_argument(
        "--triton-url",
        dest="host",
        env_var="LOCUST_TRITON_URL",
        default=argparse.SUPPRESS,
        help="alias of --host: the Triton endpoint host:port (gRPC, or HTTP with --protocol http)",
        include_in_web_ui=False,
    )
    group.add_argument("--model", env_var="LOCUST_MODEL", default=defaults.LOCUST_MODEL, help="model to load-test")
    group.add_argument(
        "--batch-size", env_var="LOCUST_BATCH_SIZE", type=int, default=defaults.BATCH_SIZE, help="inferences per request"
    )
    group.add_argument(
        "--input-seed",
        env_var="LOCUST_INPUT_SEED",
        type=int,
        default=defaults.SEED,
        help="seed of the random (prepared once) input data",
    )
    group.add_argument(
        "--target-rps",
        env_var="LOCUST_TARGET_RPS",
        type=float,
        default=0.0,
        help="open-loop users: requests/s across all users and workers",
    )
    group.add_argument(
        "--arrivals",
        env_var="LOCUST_ARRIVALS",
        type=_arrivals,
        default=defaults.ARRIVALS,
        help="open-loop arrivals: constant, poisson, or gamma:CV (bursty above CV 1, e.g. gamma:3)",
    )
    group.add_argument(
        "--schedule",
        env_var="LOCUST_SCHEDULE",
        default="",
        help="open loop: replay this file (perf_analyzer's --request-intervals, one interval in microseconds per "
        "line, or a .csv of send offsets in seconds), looped; at its own rate unless --target-rps is given",
    )
    group.add_argument(
        "--mix",
        env_var="LOCUST_MIX",
        type=_mix,
        default="",
        help="several models served together, e.g. a=3,b=1: closed-loop users split by weight, an open-loop rate "
        "split by weight (--model is then ignored); empty: --model alone",
    )
    group.add_argument(
        "--protocol",
        env_var="LOCUST_PROTOCOL",
        choices=defaults.PROTOCOLS,
        default=defaults.PROTOCOL,
        help="what the load speaks to Host: grpc (Triton's gRPC port), or http (KServe v2 REST, Triton's HTTP port)",
    )
    group.add_argument(
        "--max-in-flight",
        env_var="LOCUST_MAX_IN_FLIGHT",
        type=int,
        default=defaults.MAX_IN_FLIGHT,
        help="open-loop: sends beyond this many outstanding requests per process are dropped",
    )
    group.add_argument(
        "--request-timeout",
        env_var="LOCUST_REQUEST_TIMEOUT",
        type=float,
        default=defaults.REQUEST_TIMEOUT_S,
        help="seconds before a request counts as failed",
    )
    group.add_argument(
        "--latency-file",
        env_var="LOCUST_LATENCY_FILE",
        default="",
        help="write the exact merged percentiles to this file when Locust quits (default: none)",
    )
    group.add_argument(
        "--report-interval",
        env_var="LOCUST_REPORT_INTERVAL",
        type=float,
        default=defaults.REPORT_INTERVAL_S,
        help="seconds between worker histogram reports",
        include_in_web_ui=False,
    )
    group.add_argument(
        "--saturation-cpu",
        env_var="LOCUST_SATURATION_CPU",
        type=float,
        default=defaults.SATURATION_CPU_PERCENT,
        help="warn when a load-generator process uses more CPU than this percent",
        include_in_web_ui=False,
    )
    group.add_argument(
        "--input-data",
        env_var="LOCUST_INPUT_DATA",
        default="",
        help="requests cycle through this data (perf_analyzer JSON, a folder of .npy files or of images), read by "
        "every load-generating process; empty: seeded random tensors",
    )
    group.add_argument(
        "--shape",
        env_var="LOCUST_SHAPE",
        default="",
        help="sizes of variable input dimensions (random or --input-data), batch excluded: NAME:D1,D2 [NAME:D ...]",
    )
    group.add_argument(
        "--validate-outputs",
        env_var="LOCUST_VALIDATE_OUTPUTS",
        default="",
        metavar="MODEL",
        help="check each response against MODEL's outputs for the same request (a variant against its original): "
        "the same top-1 class, or within 1%% of the largest |value|; a mismatch is a failure",
    )
    group.add_argument(
        "--prometheus-port",
        env_var="LOCUST_PROMETHEUS_PORT",
        type=int,
        default=None,
        help="the master serves the test's client metrics for Prometheus on this port (0: a free one; default: off)",
        include_in_web_ui=False,
    )
    group.add_argument(
        "--prometheus-bind",
        env_var="LOCUST_PROMETHEUS_BIND",
        default=defaults.PROMETHEUS_BIND,
        help="address of the Prometheus endpoint",
        include_in_web_ui=False,
    )


def _mix(text: str) -> str:
    """--mix: a bad value is argparse's one-line error; kept as typed (every process parses it again)."""
    try:
        return format_mix(parse_mix(text)) if text.strip() else ""
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _arrivals(text: str) -> str:
    """--arrivals on the command line: a bad value is argparse's one-line error, not a traceback."""
    try:
        return parse_arrivals(text)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _options(environment: Environment) -> LoadOptions:
    """The options as parsed, with the Triton endpoint from Locust's Host as it is now: the start form may have
    changed it, and a worker learns it from the master's spawn message (Locust never copies `host` into its
    parsed options there)."""
    options = LoadOptions.from_parsed(environment.parsed_options)
    host = triton_endpoint(environment.host or "")
    return dataclasses.replace(options, triton_url=host) if host else options


def context_of(environment: Environment) -> LoadContext:
    return state_of(environment).context


def aggregator_of(environment: Environment) -> Aggregator | None:
    return state_of(environment).aggregator


def roster_of(environment: Environment) -> Roster | None:
    """The master's accepted and lost workers (None off a master)."""
    return state_of(environment).roster


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    install(environment)
    _serve_client_metrics(environment)  # not in sweeps: their driver serves each level's figures itself


def _serve_client_metrics(environment: Environment) -> None:
    """--prometheus-port on a master or a local runner: the running test's merged figures, until Locust quits."""
    options = environment.parsed_options
    port = getattr(options, "prometheus_port", None)
    if port is None or isinstance(environment.runner, WorkerRunner):
        return
    try:
        endpoint = MetricsEndpoint(LoadCollector(lambda: [_test_series(environment)]), options.prometheus_bind, port)
    except HarnessError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    log.info("client metrics for Prometheus: %s", endpoint.url)
    environment.events.quitting.add_listener(lambda **_: endpoint.close())


def _test_series(environment: Environment) -> LevelSeries:
    """The running test as one series: users and (with open-loop users running) the target rate asked for."""
    runner, options = environment.runner, context_of(environment).options
    aggregator = aggregator_of(environment)
    assert runner is not None and aggregator is not None
    classes = runner.reported_user_classes_count if isinstance(runner, MasterRunner) else runner.user_classes_count
    open_loop = classes.get(OPEN_LOOP_USER, 0) > 0  # a master's own count is its (no) users: the workers' is read
    return LevelSeries(
        model=options.mix or options.model,
        users=runner.user_count,
        offered_rps=options.target_rps if open_loop else None,
        running=runner.user_count > 0,
        tally=aggregator.total,
    )


def install(environment: Environment) -> None:
    """Attach the load context (and, off workers, the aggregator) and bind the listeners to this environment."""
    options = _options(environment)
    setattr(environment, STATE_ATTRIBUTE, HarnessState(LoadContext(options)))
    if not isinstance(environment.runner, MasterRunner):
        _choose_engine()
    handlers = environment.events
    handlers.test_start.add_listener(lambda **_: _on_test_start(environment))
    handlers.test_stop.add_listener(lambda **_: _on_test_stop(environment))
    handlers.quitting.add_listener(lambda **_: _on_quitting(environment))
    _register_sender_messages(environment)
    _install_roster(environment)
    if isinstance(environment.runner, WorkerRunner):
        locust.runners.WORKER_REPORT_INTERVAL = options.report_interval_s  # read on every report loop
        handlers.report_to_master.add_listener(lambda data, **_: _report(context_of(environment), data))
        return
    state_of(environment).aggregator = Aggregator()
    handlers.worker_report.add_listener(lambda client_id, data, **_: _on_worker_report(environment, client_id, data))
    if environment.web_ui is not None:
        _extend_web_ui(environment)


def _extend_web_ui(environment: Environment) -> None:
    """The exact-latency tab with its live chart, closed loop ticked by default, no open-loop start without a rate."""
    web_ui = environment.web_ui
    assert web_ui is not None
    state_of(environment).timeline = LatencyTimeline()
    register_latency_tab(web_ui, lambda: latency_document(environment))
    tick_by_default(web_ui, lambda names: [name for name in names if name != OPEN_LOOP_USER] or names)
    guard_start(web_ui, lambda chosen, form: _open_loop_refusal(environment, chosen, form))
    if environment.parsed_options is not None and environment.parsed_options.web_login:
        require_login(web_ui)


def _open_loop_refusal(environment: Environment, chosen: list[str], form: dict[str, str]) -> str | None:
    """Why a start would run an open-loop user that sends nothing (no target rate) or cannot send what it asks (a
    bad arrival process or schedule file), or None when it would not."""
    if OPEN_LOOP_USER not in chosen:
        return None
    parsed = environment.parsed_options
    try:
        parse_arrivals(form.get("arrivals", getattr(parsed, "arrivals", "constant")) or "constant")
        if schedule := form.get("schedule", getattr(parsed, "schedule", "")):
            read_trace(schedule)
            return None  # a schedule has a rate of its own
    except HarnessError as exc:
        return str(exc)
    try:
        rate = float(form.get("target_rps", getattr(parsed, "target_rps", 0.0)) or 0.0)
    except ValueError:
        return f"Target rps {form.get('target_rps')!r} is not a number: give requests/s, e.g. 100"
    if rate > 0:
        return None
    return (
        f"{OPEN_LOOP_USER} sends on a schedule and needs a target rate: set 'Target rps' under Custom "
        f"parameters (requests/s across all users), or untick it and use TritonUser (closed loop)"
    )


def _install_roster(environment: Environment) -> None:
    """Workers announce themselves (and stamp their host on every delta); a master accepts or refuses them."""
    runner, context = environment.runner, context_of(environment)
    if isinstance(runner, WorkerRunner):
        context.host = host_label(runner.master_host, runner.master_port)
        context.clock.skew_s = injected_skew_s()
        install_worker(environment, context.host, engine_name(), context.clock)
    elif isinstance(runner, MasterRunner):
        state_of(environment).roster = Roster(environment)
    else:
        context.host = host_label()


def _choose_engine() -> None:
    """Pick (and build, if needed) the load engine now, not at the first request; a bad choice ends here."""
    try:
        engine_command()
    except HarnessError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None


def _register_sender_messages(environment: Environment) -> None:
    """Open-loop users get their global sender index from the master (a local runner answers itself)."""
    runner = environment.runner
    if runner is None:
        return
    if not isinstance(runner, WorkerRunner):
        registry = state_of(environment).senders = SenderRegistry()

        def give(msg: Any, **_: Any) -> None:
            pairs = registry.assign(str(msg.node_id), float(msg.data["test"]), list(msg.data["keys"]))
            if pairs:
                runner.send_message(GIVE, {"test": msg.data["test"], "indices": pairs}, client_id=msg.node_id)

        runner.register_message(ASK, give)
    if not isinstance(runner, MasterRunner):

        def take(msg: Any, **_: Any) -> None:
            context = context_of(environment)
            if float(msg.data["test"]) == context.options.start_at:
                for key, index in msg.data["indices"]:
                    context.schedule(int(key), int(index))

        runner.register_message(GIVE, take)


def ask_sender_index(environment: Environment, user_index: int) -> None:
    """An open-loop user starts: ask the master for its global sender index (ZeroRateError without a rate)."""
    context = context_of(environment)
    context.await_index(user_index)
    if context.mix is not None:
        context.mix.await_index(user_index, open_loop=True)
    _ask(environment, context, user_index)


def ask_mix_index(environment: Environment, user_index: int) -> None:
    """A closed-loop user of a mix starts: its global index says which model it loads."""
    context = context_of(environment)
    assert context.mix is not None
    context.mix.await_index(user_index, open_loop=False)
    _ask(environment, context, user_index)


def _ask(environment: Environment, context: LoadContext, user_index: int) -> None:
    assert environment.runner is not None
    environment.runner.send_message(ASK, {"test": context.options.start_at, "keys": [user_index]})


def _on_test_start(environment: Environment) -> None:
    if isinstance(environment.runner, MasterRunner) and environment.parsed_options is not None:
        # Workers never receive Locust's own num_users; open-loop users split --target-rps by the total users.
        setattr(environment.parsed_options, TOTAL_USERS_OPTION, environment.runner.target_user_count)
    if not isinstance(environment.runner, WorkerRunner) and environment.parsed_options is not None:
        # The instant every open-loop schedule of this test is phased on (workers get it with their spawn job).
        start_at = time.time()
        setattr(environment.parsed_options, START_AT_OPTION, start_at)
        if (registry := state_of(environment).senders) is not None:
            registry.reset(start_at)
    context = context_of(environment)
    context.restart(_options(environment))  # the web UI form may have changed them
    _check_input_data(environment, context)
    aggregator = aggregator_of(environment)
    if aggregator is not None:
        aggregator.reset()
    if isinstance(environment.runner, LocalRunner):
        context.reporter = gevent.spawn(_report_locally, environment)
    state = state_of(environment)
    if state.timeline is not None:
        state.timeline.clear()
        if state.sampler is None:
            state.sampler = gevent.spawn(_sample_timeline, environment, state.timeline)


def _check_input_data(environment: Environment, context: LoadContext) -> None:
    """Bad --input-data or --shape (read by every load-generating process) is one line in the log and this process's
    error,
    carried to the master; its users then stop before sending anything (users.py), instead of a traceback each."""
    if not (context.options.input_data or context.options.shapes) or isinstance(environment.runner, MasterRunner):
        return
    try:
        context.source.payloads()
    except HarnessError as exc:
        log.error("%s", exc)
        context.refuse(str(exc))


def _sample_timeline(environment: Environment, timeline: LatencyTimeline) -> None:
    """One exact p50/p99 point per report interval for the web UI's chart (only the web UI takes windows here)."""
    aggregator = aggregator_of(environment)
    assert aggregator is not None
    while True:
        gevent.sleep(context_of(environment).options.report_interval_s)
        timeline.add(aggregator.take_window().hist)


MODELS_KEY = "harness_models"  # a worker report's per-model deltas (--mix), beside "harness"'s combined one


def _report(context: LoadContext, data: dict[str, Any]) -> None:
    data["harness"] = context.flush().to_message()
    if models := context.flush_models():
        data[MODELS_KEY] = {model: delta.to_message() for model, delta in models.items()}


def _on_worker_report(environment: Environment, client_id: str, data: dict[str, Any]) -> None:
    if "harness" in data:
        models = {m: WorkerDelta.from_message(d) for m, d in data.get(MODELS_KEY, {}).items()}
        _ingest(environment, client_id, WorkerDelta.from_message(data["harness"]), models)


def _on_test_stop(environment: Environment) -> None:
    context = context_of(environment)
    context.drain()  # the engine's last results reach Locust's stats and the histogram before the flush
    if isinstance(environment.runner, LocalRunner):
        if context.reporter is not None:
            context.reporter.kill()
            context.reporter = None
        _ingest(environment, "local", context.flush(), context.flush_models())


def _on_quitting(environment: Environment) -> None:
    context = context_of(environment)
    context.close()
    if isinstance(environment.runner, WorkerRunner):
        _write_worker_totals(environment)
    else:
        write_latency_file(environment)


def _report_locally(environment: Environment) -> None:
    context = context_of(environment)
    while True:
        gevent.sleep(context.options.report_interval_s)
        _ingest(environment, "local", context.flush(), context.flush_models())


def _ingest(environment: Environment, worker: str, delta: WorkerDelta, models: dict[str, WorkerDelta] | None = None) -> None:
    aggregator = aggregator_of(environment)
    if aggregator is None:
        return
    aggregator.ingest(worker, delta, models or {})
    span = delta.t1 - delta.t0
    cpu = 100.0 * delta.cpu_s / span if span > 0 else 0.0
    threshold = context_of(environment).options.saturation_cpu
    if delta.requests and cpu >= threshold:
        log.warning(
            "load generator %s at %.0f%% CPU (>= %.0f%%): the client, not the server, may be the bottleneck",
            worker,
            cpu,
            threshold,
        )


def latency_document(environment: Environment) -> dict[str, Any]:
    """The merged exact figures, as written to --latency-file and served at /latency.json."""
    aggregator = aggregator_of(environment)
    assert aggregator is not None
    total = aggregator.total
    threshold = context_of(environment).options.saturation_cpu
    return {
        "model": environment.parsed_options.model if environment.parsed_options else None,
        "requests": total.requests,
        "failures": total.failures,
        "histogram_count": total.hist.count,
        "latency_ms": total.hist.summary().__dict__,
        "workers": {
            name: {
                "requests": w.requests,
                "failures": w.failures,
                "cpu_percent": round(w.cpu_percent, 1),
                "saturated": w.cpu_percent >= threshold,
                "late_sends": w.late_sends,
                "dropped": w.dropped,
            }
            for name, w in total.workers.items()
        },
        "client_saturated": total.max_cpu_percent >= threshold,
        # --mix: each model's exact figures beside the combined ones above ({} for one model)
        "models": {
            name: {"requests": part.requests, "failures": part.failures, "latency_ms": part.hist.summary().__dict__}
            for name, part in total.models.items()
        },
        "timeline": timeline.as_list() if (timeline := state_of(environment).timeline) is not None else [],
        "written_at": time.time(),
    }


def write_latency_file(environment: Environment) -> None:
    path = context_of(environment).options.latency_file
    if not path or aggregator_of(environment) is None:
        return
    document = latency_document(environment)
    _write_json(Path(path), document)
    log.info(
        "exact latency: p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms over %d requests -> %s",
        document["latency_ms"]["p50"],
        document["latency_ms"]["p99"],
        document["latency_ms"]["p999"],
        document["histogram_count"],
        path,
    )
    for name, worker in document["workers"].items():
        if worker["saturated"]:
            log.warning("worker %s averaged %.0f%% CPU: it was likely the bottleneck", name, worker["cpu_percent"])


def _write_worker_totals(environment: Environment) -> None:
    """Each worker's own totals beside the master's file, to check that the master's merge is exact."""
    context = context_of(environment)
    path = context.options.latency_file
    if path:
        target = Path(path).with_name(f"{Path(path).stem}.worker-{os.getpid()}.json")
        _write_json(target, context.lifetime_totals())


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2))
    os.replace(temporary, path)
