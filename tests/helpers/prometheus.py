"""Reading a Prometheus endpoint as Prometheus would: fetched over HTTP, parsed by prometheus_client's text parser."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def scrape(url: str) -> Samples | None:
    """Every sample as {(name, sorted labels): value}; None when nothing answers (not up yet, or gone)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    families = text_string_to_metric_families(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the endpoint has no sample of that name with exactly these labels."""
    return samples.get((name, tuple(sorted(labels.items()))))
