"""Open-loop gRPC load on a Triton model: requests leave at --target-rps (all users and workers together),
constant, Poisson (--arrivals poisson) or bursty (--arrivals gamma:3), or replay a recorded schedule
(--schedule FILE, at its own rate unless --target-rps is given; docs/load-shapes.md), whether or not earlier
ones were answered. Latency is measured from each request's intended send time, so server stalls are not hidden
(no coordinated omission).

    locust -f loadtests/triton_grpc_open_loop.py --host 127.0.0.1:8001 --model mnist_cnn --target-rps 200
    locust -f loadtests/triton_grpc_open_loop.py --host 127.0.0.1:8001 --model mnist_cnn --schedule intervals.txt

The user count is the number of sending loops: a handful is enough (the rate is split between them).
--protocol http (LOCUST_PROTOCOL=http) sends KServe v2 REST to a Host that is Triton's HTTP port instead.
"""

from harness.load.users import TritonOpenLoopUser

__all__ = ["TritonOpenLoopUser"]
