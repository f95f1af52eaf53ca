"""The locustfile the harness starts its workers with, and `harness ui` with its class picker:
closed-loop TritonUser and open-loop TritonOpenLoopUser.

`python3 -m harness.locustfile [Locust options]` is Locust with this file, wherever the harness is installed: the
worker line a sweep prints (harness.load.roster.worker_command) works in any folder and from a wheel, where a
path such as harness/locustfile.py holds only in a checkout.
"""

import sys

from harness.load.users import TritonOpenLoopUser, TritonUser

__all__ = ["TritonUser", "TritonOpenLoopUser"]


def main() -> None:
    from locust.main import main as locust_main

    sys.argv = [sys.argv[0], "-f", __file__, *sys.argv[1:]]
    locust_main()


if __name__ == "__main__":
    main()
