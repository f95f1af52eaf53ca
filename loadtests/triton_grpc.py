"""Closed-loop gRPC load on a Triton model: each user keeps one request in flight.

    harness serve                                   # terminal 1: prints the gRPC URL
    locust -f loadtests/triton_grpc.py --host 127.0.0.1:8001 --model mnist_cnn

The Triton endpoint is Locust's Host (--host or the form's Host field; --triton-url is an alias). Options (also
in the web UI form, locust.conf and LOCUST_* variables): --model, --batch-size, --input-seed, --request-timeout,
--latency-file (written only when given), --input-data PATH (your own requests: perf_analyzer JSON, .npy or image
folder, cycled through) with --shape NAME:DIMS, --protocol grpc|http (LOCUST_PROTOCOL; http: the Host is Triton's
HTTP port, KServe v2 REST). Exact percentiles: the web UI's "Exact latency" tab.
"""

from harness.load.users import TritonUser

__all__ = ["TritonUser"]
