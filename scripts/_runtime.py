"""Process settings every script applies before NumPy or JAX start (import this first).

- BLAS single-threaded: NumPy's SVDs and the solvers' linear algebra run 5–7× faster
  here when their threads do not fight XLA's (and once per worker process).
- XLA:CPU's multi-threaded Eigen pool can wedge on vmapped programs (a block never
  finishes, at 0% CPU; seen with jax 0.10.2): run Eigen single-threaded.

Values already set in the environment are kept.
"""

import os


def configure() -> None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (
            flags + " --xla_cpu_multi_thread_eigen=false"
        ).strip()


def entry_point(experiment: str):
    """Configure this process, then ``main(argv=None) -> exit status``: the generated
    command line of ``jaxnet.experiments.<experiment>`` (``jaxnet.runtime.cli.main``)."""
    configure()

    def main(argv=None) -> int:
        from jaxnet.runtime import cli

        return cli.main(experiment, argv, prog=f"{experiment}.py")

    return main


def bench_args(parser, argv, *, positive=(), x64: bool = True):
    """A benchmark's ``(args, out directory)``: bad arguments (the ``positive`` ones
    below 1, an unwritable ``--out``) end with one ``error:`` line and exit status 2.
    Switches x64 on (as the experiments benchmarked do) and matplotlib to Agg."""
    a = parser.parse_args(argv)
    for name in positive:
        if getattr(a, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    import jax
    import matplotlib

    matplotlib.use("Agg")
    jax.config.update("jax_enable_x64", x64)
    from jaxnet.runtime import io

    try:
        out = io.check_writable_dir(a.out)
    except ValueError as err:
        parser.error(str(err))
    return a, out
