"""Networks as data and as modules: specs, blocks, the builder, compound scaling arithmetic, the
papers' networks (zoo), GPUNet's search space, names to modules, weight transfer.
May import ``gpuefficient.analysis`` and the core."""
