"""High-resolution, mergeable latency histograms (HdrHistogram), the only place hdrh is imported.

Values are recorded in microseconds from 1 us to 10 min with 3 significant figures: exact to the microsecond
below 1 ms and within 0.1 % above, in bounded memory (a few tens of KB), and exactly mergeable across
workers, so percentiles are computed from merged counts and never averaged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from harness.record.model import Latency

_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_SIGNIFICANT_FIGURES = 3


class LatencyHistogram:
    def __init__(self) -> None:
        self._hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_FIGURES)

    def record_seconds(self, seconds: float) -> None:
        self._hist.record_value(min(max(int(seconds * 1e6), _LOWEST_US), _HIGHEST_US))

    def record_micros(self, micros: int) -> None:
        self._hist.record_value(min(max(micros, _LOWEST_US), _HIGHEST_US))

    def record_all_micros(self, values: Iterable[int]) -> None:
        """Many values at once: each distinct one recorded once with its count (values repeat to the microsecond)."""
        for micros, count in Counter(values).items():
            self._hist.record_value(min(max(micros, _LOWEST_US), _HIGHEST_US), count)

    def add(self, other: LatencyHistogram) -> None:
        if other.count:
            self._hist.add(other._hist)

    def add_encoded(self, encoded: str) -> None:
        if encoded:
            self._hist.decode_and_add(encoded.encode("ascii"))

    def encode(self) -> str:
        return self._hist.encode().decode("ascii")

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def count_above_ms(self, limit_ms: float) -> int:
        """Recorded values above limit_ms (to the histogram's resolution, 0.1 %): the tail an SLO judges."""
        limit_us = limit_ms * 1000.0
        below = sum(
            item.count_added_in_this_iter_step
            for item in self._hist.get_recorded_iterator()
            if self._hist.get_lowest_equivalent_value(item.value_iterated_to) <= limit_us
        )
        return self.count - int(below)

    def percentile_us(self, percentile: float) -> float:
        return float(self._hist.get_value_at_percentile(percentile)) if self.count else 0.0

    @property
    def max_us(self) -> float:
        return float(self._hist.get_max_value()) if self.count else 0.0

    def percentile_ms(self, percentile: float) -> float:
        return self._hist.get_value_at_percentile(percentile) / 1000.0 if self.count else 0.0

    def summary(self) -> Latency:
        """p50/p90/p95/p99/p99.9, mean, max and min in milliseconds."""
        if not self.count:
            return Latency(p50=0.0, p90=0.0, p95=0.0, p99=0.0, p999=0.0, mean=0.0, max=0.0, min=0.0)
        return Latency(
            p50=self.percentile_ms(50),
            p90=self.percentile_ms(90),
            p95=self.percentile_ms(95),
            p99=self.percentile_ms(99),
            p999=self.percentile_ms(99.9),
            mean=self._hist.get_mean_value() / 1000.0,
            max=self._hist.get_max_value() / 1000.0,
            min=self._hist.get_min_value() / 1000.0,
        )
