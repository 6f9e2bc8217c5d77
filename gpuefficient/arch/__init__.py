"""Networks as data and as modules: specs, blocks, the builder, compound scaling arithmetic, the
papers' networks (zoo), GPUNet's search space, names to modules, weight transfer,
FoldedCNNs (folding), the NATS-Bench size space (nats).
May import ``gpuefficient.analysis`` and the core."""
