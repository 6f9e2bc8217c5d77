"""Time things on a device: the timing core, inference backends, GPUNet's latency lookup table,
the device's measured ceilings, GENet's block profiling, throughput at the largest batch that fits.
May import ``gpuefficient.arch``, ``gpuefficient.analysis`` and the core.

``BACKENDS`` (the backend names of :mod:`gpuefficient.measure.backends`) lives here so that the
command line can check a ``--backend`` without importing torch.
"""

BACKENDS = ("eager", "compile", "compile-max-autotune", "compile-cudagraphs", "cudagraph", "onnxruntime",
            "tensorrt")
