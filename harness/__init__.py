"""Is a GPU necessary? A load-testing harness for PyTorch models served by NVIDIA Triton."""

import os

__version__ = "0.1.0"

# The harness starts child processes (tritonserver, Locust workers) from processes that hold gRPC channels.
# With grpc's fork support on, the forked child restarts grpc's poller, whose epoll fd the child then closes:
# it aborts ("epoll_wait error: Bad file descriptor"). We never use grpc across a fork, so turn it off before
# grpc is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
