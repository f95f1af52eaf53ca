"""The locustfile the harness starts its workers with (closed-loop TritonUser)."""

from harness.locust_users import TritonUser

__all__ = ["TritonUser"]
