"""The experiments, each one module with the same four parts, and their registry.

An experiment module defines ``SPEC`` (``jaxnet.runtime.Spec``: its name, document,
arrays file, command-line options and whether it needs x64), a frozen ``Config``
dataclass (``jaxnet.runtime.config.field``), ``compute(config, ctx) -> (results body,
arrays)`` (trials run through ``ctx.device`` / ``ctx.host``:
``jaxnet.runtime``), ``plot(results, arrays) -> {file name: Figure}``, ``report(results)
-> str`` and a notebook call (e.g. ``full_rank.probability(...)``).

``REGISTRY`` is the one list of what ``scripts/reproduce.py`` runs: each entry names
its module, the config common to both scales and the config per scale. Adding an
experiment to jaxnet = its module, its name in ``MODULES`` and its line in
``REGISTRY`` (``docs/extending.md``). An experiment kept outside jaxnet (your own
package) is one ``register(Entry("my_pkg.my_experiment", ...), name=...)`` call in a
plugin module (``jaxnet.runtime.plugins``): ``reproduce.py --plugin my_pkg.setup``
then runs, caches and audits it like the others.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

MODULES = (
    "full_rank",
    "global_minima",
    "binary_singularity",
    "region_rank",
    "region_figures",
    "condensation",
    "condensation_sweep",
    "minnorm_phase",
    "threshold",
    "threshold_1d",
    "deep_rank",
    "gradient_descent",
    "init_regions",
)


_EXTERNAL: dict[
    str, str
] = {}  # SPEC.name -> module path, of registered outside modules


def module(name: str) -> ModuleType:
    """The experiment module ``name``: one of ``MODULES``, the ``SPEC.name`` of a
    registered outside experiment, or a dotted module path."""
    if name in MODULES:
        return importlib.import_module(f"jaxnet.experiments.{name}")
    if name in _EXTERNAL or name in _EXTERNAL.values() or "." in name:
        return importlib.import_module(_EXTERNAL.get(name, name))
    raise ValueError(
        f"experiment must be one of {', '.join([*MODULES, *_EXTERNAL])}; got {name!r}"
    )


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the registry: what ``reproduce`` runs under a name."""

    module: str
    common: dict
    scales: dict  # 'quick' / 'full' -> config overrides (a scale left out: not run)

    def config(self, scale: str):
        """The experiment's ``Config`` at ``scale``, or None if not run at that scale."""
        if scale not in self.scales:
            return None
        return module(self.module).Config(**self.common, **self.scales[scale])


_FIG4 = {"convention": "paper", "d0": (1, 2, 3, 5), "ratio": (0.25, 0.5, 1, 2)}

REGISTRY: dict[str, Entry] = {
    "fig4": Entry(
        "full_rank", _FIG4, {"quick": {"trials": 50}, "full": {"trials": 1000}}
    ),
    "fig4_peer": Entry(
        "full_rank",
        {
            "convention": "peer",
            "d0": (1, 2, 5),
            "n": (20, 60, 90),
            "d1": (30, 150, 300),
        },
        {"quick": {"trials": 1000}, "full": {"trials": 10000}},
    ),
    "fig4_exact": Entry(
        "full_rank",
        _FIG4,
        {
            "quick": {"trials": 6, "exact_check": 6},
            "full": {"trials": 30, "exact_check": 30},
        },
    ),
    "fig5": Entry(
        "global_minima",
        {"d0": (1,)},
        {
            "quick": {"regions": 20, "check_reference": 20},
            "full": {"regions": 100, "check_reference": 100},
        },
    ),
    "fig6": Entry(
        "global_minima",
        {"d0": (2, 5)},
        {
            "quick": {"regions": 20, "check_reference": 20},
            "full": {"regions": 100, "check_reference": 100},
        },
    ),
    "thm2": Entry(
        "region_rank",
        {"theorem": 2},
        {"quick": {"trials": 40}, "full": {"trials": 200}},
    ),
    "thm9": Entry(
        "region_rank",
        {"theorem": 9},
        {"quick": {"trials": 40}, "full": {"trials": 200}},
    ),
    "thm3": Entry(
        "binary_singularity",
        {},
        # quick: 10^5 exact trials at n <= 4 (the sampler check keeps its criterion,
        # with less power); full: the default 10^6
        {"quick": {"trials": 4000, "exact_trials": 100000}, "full": {"trials": 100000}},
    ),
    "fig1_fig3": Entry("region_figures", {}, {"quick": {}, "full": {}}),
    "condensation": Entry(
        "condensation", {}, {"quick": {"seeds": 20}, "full": {"seeds": 100}}
    ),
    "condensation_sweep": Entry(
        "condensation_sweep",
        {},
        {
            "quick": {
                "seeds": 5,
                "lam": (1e-2, 1e-3, 1e-4),
                "check_seeds": 2,
                "gd_steps": 80000,
            },
            "full": {},
        },
    ),
    "phase": Entry(
        "minnorm_phase", {}, {"quick": {"instances": 30}, "full": {"instances": 200}}
    ),
    "threshold_fig4": Entry(
        "threshold",
        {"d0": (1, 2, 3, 5), "n": tuple(range(10, 101, 10))},
        {
            "quick": {"trials": 1000, "check_float": 20},
            "full": {"trials": 10000, "check_float": 100},
        },
    ),
    "threshold_law": Entry(
        "threshold",
        {"d0": (1,), "n": tuple(range(50, 1001, 50))},
        {"quick": {"trials": 100}, "full": {"trials": 1000}},
    ),
    "threshold_d0": Entry(
        "threshold",
        {"d0": (2, 3, 5), "n": tuple(range(20, 301, 20))},
        {"quick": {"trials": 40}, "full": {"trials": 500}},
    ),
    "threshold_1d": Entry(
        "threshold_1d",
        {},
        {
            "quick": {
                "law_n": (100, 1000, 10000),
                "law_data": 20,
                "law_points": 100_000,
                "panel_n": (10, 50, 100),
                "panel_data": 500,
                "exact_check": 5,
                "engine_n": (20, 50),
                "engine_trials": 200,
                "engine_law_n": (1000,),
                "engine_law_trials": 50,
                "bootstrap": 200,
            },
            "full": {},
        },
    ),
    "deep_rank": Entry(
        "deep_rank",
        {},
        {
            "quick": {
                "depth": (2, 3),
                "d0": (2,),
                "n": (10, 20, 30, 40),
                "width": (5, 10, 20, 40),
                "trials": 50,
            },
            "full": {"trials": 100},
        },
    ),
    # d0 = ⌈ratio·n⌉ needs few units (P ≥ n at d1 ≈ 1/ratio for L = 2): Figure 4's
    # ratio widths 1..15 at every depth (the d0 panels' 30..300 saturate at once).
    "deep_rank_ratio": Entry(
        "deep_rank",
        {"d0": (), "ratio": (0.25, 0.5), "width": tuple(range(1, 16))},
        {"full": {"trials": 100}},
    ),
    "gradient_descent": Entry(
        "gradient_descent",
        {},
        {
            "quick": {
                "d0": (2,),
                "n": (10, 20, 30),
                "d1": (10, 40),
                "trials": 20,
                "steps": 1000,
                "validate": 2,
                "gm_regions": 5,
            },
            # 10 of the 100 initializations per cell validated (the default: 5)
            "full": {"validate": 10},
        },
    ),
    # depth 3: every d0 at widths 4..40, 30 initializations per cell (3 validated);
    # Figures 5/6 have no depth-3 engine
    "gradient_descent_L3": Entry(
        "gradient_descent",
        {"depth": (3,), "d0": (1, 2, 5), "d1": tuple(range(4, 41, 4))},
        {"full": {"trials": 30, "validate": 3, "gm_regions": 0}},
    ),
    "init_regions": Entry(
        "init_regions",
        {},
        {"quick": {"n": (10, 20), "d1": (50,), "trials": 20}, "full": {}},
    ),
    "phase_d3": Entry(
        "minnorm_phase",
        {"teachers": ("random",), "d": (3,), "N": tuple(range(6, 37, 3))},
        {"full": {"instances": 60}},
    ),
    # d = 4, 5: the sizes the exact program reaches here (docs/topics/teacher_student.md).
    "phase_d4": Entry(
        "minnorm_phase",
        {"teachers": ("random",), "d": (4,), "N": tuple(range(6, 19, 3))},
        {"full": {"instances": 30}},
    ),
    "phase_d5": Entry(
        "minnorm_phase",
        {"teachers": ("random",), "d": (5,), "N": (6, 8, 10, 12)},
        {"full": {"instances": 30}},
    ),
}


def register(entry: Entry, *, name: str) -> Entry:
    """Add ``entry`` to ``REGISTRY`` under ``name`` (what ``reproduce.py --only``
    takes); ``entry.module`` may be a dotted path to a module outside jaxnet with the
    experiment protocol's four parts. Registering an identical entry again is a no-op.

    Raises:
      ValueError: if ``name`` is taken by a different entry, or the module lacks the
        protocol (``SPEC``, ``Config``, ``compute``, ``plot``, ``report``).
    """
    if name in REGISTRY:
        if REGISTRY[name] == entry:
            return entry
        raise ValueError(f"name {name!r} is already in the registry")
    if entry.module in MODULES:
        mod = module(entry.module)
    else:
        mod = importlib.import_module(entry.module)
    missing = [
        a
        for a in ("SPEC", "Config", "compute", "plot", "report")
        if not hasattr(mod, a)
    ]
    if missing:
        raise ValueError(f"entry: module {entry.module!r} lacks {', '.join(missing)}")
    if entry.module not in MODULES:
        _EXTERNAL[mod.SPEC.name] = entry.module
    for scale in entry.scales:
        entry.config(scale)  # its configs must validate now, not mid-reproduce
    REGISTRY[name] = entry
    return entry
