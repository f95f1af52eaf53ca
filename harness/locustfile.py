"""The locustfile the harness starts its workers with, and `harness ui` with its class picker:
closed-loop TritonUser and open-loop TritonOpenLoopUser."""

from harness.load.users import TritonOpenLoopUser, TritonUser

__all__ = ["TritonUser", "TritonOpenLoopUser"]
