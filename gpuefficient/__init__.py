"""gpuefficient: designing CNNs that run fast on GPUs.

Modules, one job each: ``costs`` (per-layer FLOPs, bytes, intensity), ``hardware`` (device
catalog and measured ceilings), ``roofline`` (roofline and EfficientNet-X latency model),
``latency`` (the timing core), ``spec``/``blocks``/``builder`` (architectures as data),
``models`` (names to modules), ``plotting`` and ``notebooks`` (the book's figures and executor).
Import the module you need; nothing heavy is imported here.
"""
__version__ = "0.1.0"
