"""gpuefficient: designing CNNs that run fast on GPUs.

Modules, one job each: ``costs`` (per-layer FLOPs, bytes, intensity), ``hardware`` (device
catalog and measured ceilings), ``roofline`` (roofline and EfficientNet-X latency model),
``latency`` (the timing core), ``backends`` (eager, compiled, CUDA graphs, ONNX Runtime,
TensorRT), ``lut`` (latency lookup tables), ``search`` (GPUNet's search space), ``ablations``
(chapter 4's variants), ``block_profile`` (GENet's profiling networks), ``spec``,
``blocks`` and ``builder`` (architectures as data), ``scaling`` (compound scaling and LACS), ``oracles`` (accuracy for LACS),
``zoo`` (the papers' networks as specs),
``transfer`` (weights between implementations), ``rank`` (singular values of conv kernels),
``data`` and ``training`` (offline procedural dataset, small trainer), ``models`` (names to
modules), ``papers`` (cited numbers), ``results`` (atomic result files), and the book's plumbing:
``runtime``, ``claims``, ``plotting``, ``notebooks``. Import the module you need; nothing heavy
is imported here.
"""
__version__ = "0.1.0"
