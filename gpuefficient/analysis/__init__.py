"""Numbers computed without running anything on the device: per-layer costs, the roofline, the
singular-value rank of kernels, the device catalog, statistics of latency predictors,
Pareto frontiers, GPU utilization.
May import the core only."""
