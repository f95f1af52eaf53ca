"""Closed-loop gRPC load on a Triton model: each user keeps one request in flight.

    harness serve                                   # terminal 1: prints the gRPC URL
    locust -f loadtests/triton_grpc.py --triton-url 127.0.0.1:8001 --model mnist_cnn

Options (also in the web UI form, locust.conf and LOCUST_* variables): --triton-url, --model, --batch-size,
--input-seed, --request-timeout, --latency-file. Exact percentiles: http://127.0.0.1:8089/latency
"""

from harness.load.users import TritonUser

__all__ = ["TritonUser"]
