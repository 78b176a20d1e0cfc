"""Creator Next benchmark harness: ``python -m bench [WORKLOAD ...]`` (``make bench``).

Every figure is a ratio against baselines served and measured by the same harness in the same run
(../shared/design/TARGETS.md). See bench/README.md.

This package is also a tiny Django app (``bench.settings`` adds it) that serves the baseline
endpoints next to the real app, so keep this module free of imports.
"""
