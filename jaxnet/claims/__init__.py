"""The claims of the two documents and the criteria that judge them: pure functions.

Each claim function takes the loaded results of the registry's experiments (``{name:
results.json dict or None}``; ``jaxnet.experiments.REGISTRY``) and returns rows
``(claim, the documents' statement, jaxnet's measured value, scale, verdict, figure)``.
A verdict is computed from the numbers by the criterion written in the function, never
by hand: "reproduced", "not reproduced", "beyond the documents" or "not tested at this
scale". ``scripts/reproduce.py`` writes them into ``REPORT.md``.

Layout: ``slides`` (the slides' claims), ``report`` (the report's), ``beyond`` (what
neither document states) and ``gradient_flow`` (gradient descent to its end); every
public name is re-exported here. The package is the report layer: it reads results and
never changes them, so it is left out of the source fingerprint
(``runtime.io.source_files``).
"""

from jaxnet.claims.beyond import (
    claims_further,
    claims_threshold,
    claims_threshold_1d,
    threshold_law_verdict,
)
from jaxnet.claims.gradient_flow import gd_boundary_finding, gd_rule_error, lemma1_row
from jaxnet.claims.report import claims_report, condensation_limit
from jaxnet.claims.slides import (
    REFERENCE_PEER,
    SAMPLER_ALPHA,
    claims_exact,
    claims_fig4,
    claims_peer,
    claims_regions,
    sampler_check,
)

ALL = (
    claims_fig4,
    claims_exact,
    claims_peer,
    claims_regions,
    claims_report,
    claims_threshold,
    claims_threshold_1d,
    claims_further,
)

__all__ = [
    "ALL",
    "REFERENCE_PEER",
    "SAMPLER_ALPHA",
    "claims_exact",
    "claims_fig4",
    "claims_further",
    "claims_peer",
    "claims_regions",
    "claims_report",
    "claims_threshold",
    "claims_threshold_1d",
    "condensation_limit",
    "gd_boundary_finding",
    "gd_rule_error",
    "lemma1_row",
    "sampler_check",
    "threshold_law_verdict",
]
