"""The runtime: everything that runs trials, and nothing of the mathematics.

| module | job |
| --- | --- |
| ``keys`` | trial keys from (seed, cell seed, trial index); host generators |
| ``devices`` | the 1-D mesh, multi-process set-up, global arrays, gathering |
| ``blocks`` | one compiled program per block of trials; the cost-model planner |
| ``device_loop`` | ``run_device``: blocks, checkpoints, refinement, watchdog |
| ``host_pool`` | ``run_host``: solver trials on spawned processes |
| ``watchdog`` | abort a run that stops making progress |
| ``identity`` | ``describe``: what a part of a run is |
| ``protocol`` | ``Spec``, ``Options``, ``Context`` (parts, checkpoints, audit |
| | replay), ``Result``, ``run`` |

Every public name is re-exported here: ``from jaxnet import runtime`` then
``runtime.run_device``, ``runtime.Context``, ...
"""

from jaxnet.runtime.blocks import compile_block_fn, make_block_fn, merge_programs
from jaxnet.runtime.device_loop import run_device
from jaxnet.runtime.devices import (
    DEVICE_AXIS,
    device_mesh,
    gather,
    global_array,
    init_distributed,
    is_main_process,
    lapack_mesh,
)
from jaxnet.runtime.host_pool import HostPoolError, run_host
from jaxnet.runtime.identity import describe
from jaxnet.runtime.keys import cell_seed, host_rng, trial_key, trial_key_data
from jaxnet.runtime.protocol import (
    HOST_OPTIONS,
    PARTS_FILE,
    Context,
    Options,
    Result,
    Spec,
    config_dict,
    report_head,
    run,
)
from jaxnet.runtime.watchdog import Watchdog

__all__ = [
    "DEVICE_AXIS",
    "HOST_OPTIONS",
    "PARTS_FILE",
    "Context",
    "HostPoolError",
    "Options",
    "Result",
    "Spec",
    "Watchdog",
    "cell_seed",
    "compile_block_fn",
    "config_dict",
    "describe",
    "device_mesh",
    "gather",
    "global_array",
    "host_rng",
    "init_distributed",
    "is_main_process",
    "lapack_mesh",
    "make_block_fn",
    "merge_programs",
    "report_head",
    "run",
    "run_device",
    "run_host",
    "trial_key",
    "trial_key_data",
]
