"""Design decisions built on measurements: latency-aware compound scaling (LACS), accuracy oracles,
the ablations of chapter 4, the procedural dataset and the small trainer, and architecture search (latency
tiers, proposers, the checkpointed search loop, Ray evaluation; Optuna and Ray imported lazily).
May import ``gpuefficient.measure``, ``gpuefficient.arch``, ``gpuefficient.analysis`` and the core."""
