"""The chapters' plumbing: runtime set-up, the claims check, shared figures, result files with
provenance, and the notebook runner (``python -m gpuefficient.book.notebooks``).
May import ``gpuefficient.analysis`` and the core."""
