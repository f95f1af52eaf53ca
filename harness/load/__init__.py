"""The load generator: Locust plugin, users, the master-side driver, the worker-side context, histograms, arrivals."""
