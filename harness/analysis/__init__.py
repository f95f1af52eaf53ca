"""Pure reasoning over saved runs: comparisons and verdicts. No Locust, no gRPC, no plotting."""
