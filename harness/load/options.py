"""The load generator's options, as one frozen value: what Locust parsed (CLI, web form, locust.conf, LOCUST_*),
read once per test by each process. No Locust import: the plugin hands in its parsed namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import defaults

TOTAL_USERS_OPTION = "harness_total_users"
"""Set by the master in its parsed options, which Locust ships to every worker with each spawn: the test's total
users (workers never receive Locust's own num_users; open-loop users split --target-rps by it)."""
START_AT_OPTION = "harness_start_at"
"""Set the same way: the wall-clock instant every open-loop schedule of the test is phased on."""


@dataclass(frozen=True)
class LoadOptions:
    triton_url: str = defaults.TRITON_GRPC_URL
    model: str = defaults.LOCUST_MODEL
    batch_size: int = defaults.BATCH_SIZE
    input_seed: int = defaults.SEED
    target_rps: float = 0.0
    arrivals: str = defaults.ARRIVALS
    max_in_flight: int = defaults.MAX_IN_FLIGHT
    request_timeout_s: float = defaults.REQUEST_TIMEOUT_S
    latency_file: str = ""
    report_interval_s: float = defaults.REPORT_INTERVAL_S
    saturation_cpu: float = defaults.SATURATION_CPU_PERCENT
    num_users: int = 1
    start_at: float = 0.0  # the test's common start instant (wall clock), set by the master at test start
    input_data: str = ""  # --input-data: requests cycle through this data's entries; "": seeded random tensors
    shapes: str = ""  # --shape: 'NAME:D1,D2 [NAME:D ...]', variable dimensions of --input-data
    validate_against: str = ""  # --validate-outputs MODEL: each response checked against MODEL's outputs; "": none
    schedule: str = ""  # --schedule: a trace file to replay (harness.load.trace); "": --arrivals
    mix: str = ""  # --mix a=3,b=1: several models served together (harness.load.mix); "": --model alone
    protocol: str = defaults.PROTOCOL  # --protocol: grpc, or http (KServe v2 REST) to the endpoint's HTTP port

    @classmethod
    def from_parsed(cls, parsed: Any) -> LoadOptions:
        if parsed is None:
            return cls()
        get = lambda name, default: getattr(parsed, name, default) if getattr(parsed, name, None) is not None else default  # noqa: E731
        return cls(
            triton_url=triton_endpoint(get("host", "")) or get("triton_url", cls.triton_url),
            model=get("model", cls.model),
            batch_size=int(get("batch_size", cls.batch_size)),
            input_seed=int(get("input_seed", cls.input_seed)),
            target_rps=float(get("target_rps", 0.0)),
            arrivals=get("arrivals", cls.arrivals),
            max_in_flight=int(get("max_in_flight", cls.max_in_flight)),
            request_timeout_s=float(get("request_timeout", cls.request_timeout_s)),
            latency_file=get("latency_file", ""),
            report_interval_s=float(get("report_interval", cls.report_interval_s)),
            saturation_cpu=float(get("saturation_cpu", cls.saturation_cpu)),
            num_users=max(int(get(TOTAL_USERS_OPTION, 0) or get("num_users", 1) or 1), 1),
            start_at=float(get(START_AT_OPTION, 0.0)),
            input_data=get("input_data", ""),
            shapes=get("shape", ""),
            validate_against=get("validate_outputs", ""),
            schedule=get("schedule", ""),
            mix=get("mix", ""),
            protocol=get("protocol", cls.protocol),
        )


def triton_endpoint(host: str) -> str:
    """Locust's Host (CLI, form or locust.conf) as host:port (gRPC or HTTP, as --protocol says): a scheme or a
    trailing slash is dropped."""
    return host.strip().split("://", 1)[-1].rstrip("/")
