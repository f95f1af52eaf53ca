"""What a test needs from the machine (Chromium, network namespaces, root): skip here, fail in CI.

On a developer's machine a missing browser or missing namespace support skips the tests that need it. In CI
(`CI=true`, as GitHub Actions and most runners set it) the same absence fails them: CI's machine is set up to
have everything, so a skip there would only hide that a whole group of tests stopped running.

    from helpers.requirements import require_or_skip
    if not CHROMIUM.exists():
        require_or_skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True where the environment says it is CI (`CI=true`, `CI=1`...), as the runners set it."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_or_skip(reason: str) -> NoReturn:
    """Skip the current test for `reason`; in CI, fail it instead (a requirement CI must meet is missing)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}: CI must provide this, so the test fails instead of skipping", pytrace=False)
    pytest.skip(reason)
