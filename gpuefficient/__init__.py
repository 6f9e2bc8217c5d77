"""gpuefficient: designing CNNs that run fast on GPUs.

The package is five layers over a small core; imports run downward only
(``tests/test_layers.py`` enforces it)::

    cli.py                       the command line (python -m gpuefficient): may import anything
      design/                    lacs, oracles, ablations, data, training: decisions built on measurements
        measure/                 timer, backends, lut, ceilings, block_profile: time things on a device
          arch/                  spec, blocks, builder, scaling, zoo, gpunet_space, models, transfer:
                                 networks as data and as modules
            analysis/            costs, roofline, rank, hardware (catalog), predictors: numbers
                                 computed without running anything on the device
    book/                        runtime, claims, plotting, results, notebooks (the runner): the
                                 chapters' plumbing; imports analysis and the core only
    core: device.py (which device, its name, software versions, GPU state, the one out-of-memory
          policy), dtypes.py (the one dtype vocabulary), checks.py (argument checks),
          papers.py (cited numbers): import nothing of the package

So ``design`` may import ``measure``, ``arch``, ``analysis`` and the core; ``measure`` may import
``arch``, ``analysis`` and the core; ``arch`` may import ``analysis`` and the core; ``analysis``
and the core import no other layer. Import the module you need (``from gpuefficient.measure.timer
import measure``); nothing heavy is imported here.
"""
__version__ = "0.1.0"
