# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # jaxnet quickstart
#
# Three experiments at small scale, each one call that returns a `Result`
# (`.results`, `.arrays`, `.cells`, `.column(field)`, `.plot()`):
#
# 1. Figure 4 of the slides: P(the Jacobian has full rank) at a random initialization;
# 2. the threshold law: each trial's exact minimal full-rank width w*;
# 3. the report's experiment: SGD + L2 students against the exact minimum-norm
#    interpolant.
#
# `SCALE` shrinks every size (the test suite runs this notebook with
# `JAXNET_QUICKSTART_SCALE=tiny`).

# %%
import os

import matplotlib.pyplot as plt

from jaxnet.experiments import condensation, full_rank, threshold

TINY = os.environ.get("JAXNET_QUICKSTART_SCALE") == "tiny"

# %% [markdown]
# ## Figure 4: P(full rank) over (n, d1)
#
# Paper convention (Gaussian data and weights), the float64 SVD rule
# s_n(J) > max(n, P)·eps·s_1(J), every trial certified or decided by the SVD.

# %%
fig4 = full_rank.probability(
    convention="paper",
    d0=[1, 2],
    n=[10, 20] if TINY else range(10, 31, 10),
    d1=[30, 60] if TINY else range(30, 91, 30),
    trials=20 if TINY else 200,
    seed=0,
)
print(fig4)
print(fig4.column("p"))
fig4.plot()
plt.show()

# %% [markdown]
# ## The threshold law: exact minimal full-rank widths
#
# For d0 = 1 the rank is combinatorial, so each trial's minimal full-rank width w* is
# exact, and one draw gives P(full rank at d1) = P(w* ≤ d1) at every d1.

# %%
law = threshold.law(
    d0=[1],
    n=[20, 40] if TINY else range(50, 301, 50),
    trials=20 if TINY else 200,
    check_float=0,
)
for cell in law.cells:
    print(cell["panel"], cell["n"], "median w* =", cell["q50"]["value"])
law.plot()
plt.show()

# %% [markdown]
# ## The report: SGD + L2 against the exact minimum-norm interpolant
#
# Students trained by the report's protocol (fewer steps here), then the exact
# interpolant (cvxpy + Clarabel) of the same data.

# %%
report = condensation.student(
    N=[40],
    seeds=2 if TINY else 10,
    steps=500 if TINY else 10000,
    log_every=100 if TINY else 1000,
    stages=5,
    exact=True,
)
summary = report.results["per_N"][0]["summary"]
print("SGD ||theta||^2:", summary["sgd"]["sq_norm_mean"])
print(
    "exact interpolant condensed:",
    summary["exact"].get("condensed"),
    "of",
    summary["exact"].get("solved"),
)
report.plot()
plt.show()
