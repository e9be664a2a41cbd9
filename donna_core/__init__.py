"""DONNA: distributed, throughput/energy-aware DNN partitioning over heterogeneous devices."""
__version__ = "0.1.0"
