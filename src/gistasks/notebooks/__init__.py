"""The notebook execution engine: every run of a notebook in a fresh IPython kernel.

What ExecuteNotebook (and anything else that runs notebooks) builds on. No part of gistasks
above the lowest layer is imported: the caller brings the notebook, the parameters, the
environment and the working directory, and gets a :class:`NotebookResult` back.

A typical caller, in a worker thread::

    engine = NotebookEngine(EngineConfig(pool_size=2, max_concurrent=4))
    engine.start()                               # once, at server start
    slot = engine.try_acquire()                  # or engine.acquire(timeout_s)
    if slot is None:
        ...                                      # every kernel busy: skip or retry the run
    result = engine.run(item_folder / "analysis.ipynb", time_limit_s=3000,
                        parameters=task_params.get("notebookParameters"),
                        env={"NB_AUTH_FILE": auth_file, "NB_USER": owner},
                        cwd=item_folder, cancel=run_context.cancelled,
                        save_injected_parameters=False, slot=slot)
    result.outcome            # Outcome.SUCCEEDED / FAILED / TIMED_OUT / CANCELLED / KERNEL_DIED
    result.message            # one line for the run's result
    result.notebook_bytes()   # the executed .ipynb
    to_html(result.notebook)  # a page without scripts; serve it with CONTENT_SECURITY_POLICY
    engine.shutdown()                            # at server stop: kills every kernel

The modules: :mod:`.engine` (runs, slots, the pool in use), :mod:`.kernels` (kernel processes
and the pool), :mod:`.parameters` (``notebookParameters`` and the injected cell),
:mod:`.documents` (reading notebooks within :class:`Limits`), :mod:`.results`, :mod:`.html`,
:mod:`.client` (the kernel protocol; internal).
"""

from gistasks.notebooks.documents import (
    DEFAULT_LIMITS,
    Limits,
    NotebookError,
    NotebookSource,
    read_notebook,
    write_notebook,
)
from gistasks.notebooks.engine import (
    INHERITED_ENV,
    EngineClosedError,
    EngineConfig,
    NoSlotError,
    NotebookEngine,
    Slot,
    Slots,
)
from gistasks.notebooks.html import CONTENT_SECURITY_POLICY, to_html
from gistasks.notebooks.kernels import Kernel, KernelCommand, KernelPool, KernelStartError
from gistasks.notebooks.parameters import (
    INJECTED_TAG,
    PARAMETERS_TAG,
    inject_parameters,
    parameters_source,
    parse_parameters,
)
from gistasks.notebooks.results import CellError, CellRef, NotebookResult, Outcome

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_LIMITS",
    "INHERITED_ENV",
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "CellError",
    "CellRef",
    "EngineClosedError",
    "EngineConfig",
    "Kernel",
    "KernelCommand",
    "KernelPool",
    "KernelStartError",
    "Limits",
    "NoSlotError",
    "NotebookEngine",
    "NotebookError",
    "NotebookResult",
    "NotebookSource",
    "Outcome",
    "Slot",
    "Slots",
    "inject_parameters",
    "parameters_source",
    "parse_parameters",
    "read_notebook",
    "to_html",
    "write_notebook",
]
