"""cryptoscope agent: everything that runs in the cluster (probe, inspect, judge, store)."""

__version__ = "0.1.0"
