"""Design decisions built on measurements: latency-aware compound scaling (LACS), accuracy oracles,
the ablations of chapter 4, the procedural dataset and the small trainer.
May import ``gpuefficient.measure``, ``gpuefficient.arch``, ``gpuefficient.analysis`` and the core."""
