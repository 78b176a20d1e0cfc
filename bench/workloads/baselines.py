"""`make bench WORKLOAD=baselines`: the three baselines alone, with their spread over the rounds.

Run it first on a new machine, or whenever the figures of a workload look odd: if the baselines
themselves spread by more than ~10%, the machine is too busy for any ratio to mean much.
"""

from bench.registry import no_errors, workload

ALL = ("B-json", "B-insert", "B-pg")


@workload(
    "baselines",
    "The baselines of TARGETS.md: B-json (bare DRF endpoint), B-insert (DRF endpoint inserting one "
    "row), B-pg (pgbench TPC-B-like, 16 clients, scale 10).",
    baselines=ALL,
    checks=[no_errors(*ALL)],
    notes="Reference figures on this machine (RECIPES.md): B-json ≈ 2,900–3,800 req/s, "
          "B-insert ≈ 1,400–1,600 req/s, B-pg ≈ 3,100 tx/s.",
)
def baselines(ctx):
    return {}  # nothing but the baselines
