"""Workloads: one module each, registered with ``@workload`` (bench/registry.py).

Every module in this package is imported by the harness, so adding a workload is adding a file.
"""
