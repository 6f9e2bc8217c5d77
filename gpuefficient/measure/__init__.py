"""Time things on a device: the timing core, inference backends, GPUNet's latency lookup table,
the device's measured ceilings, GENet's block profiling.
May import ``gpuefficient.arch``, ``gpuefficient.analysis`` and the core."""
