"""The notebook execution engine: every run of a notebook in a fresh IPython kernel.

This first part reads notebooks within bounds and injects ``notebookParameters``.
"""

from gistasks.notebooks.documents import (
    DEFAULT_LIMITS,
    Limits,
    NotebookError,
    NotebookSource,
    read_notebook,
    write_notebook,
)
from gistasks.notebooks.parameters import (
    INJECTED_TAG,
    PARAMETERS_TAG,
    inject_parameters,
    parameters_source,
    parse_parameters,
)

__all__ = [
    "DEFAULT_LIMITS",
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "Limits",
    "NotebookError",
    "NotebookSource",
    "inject_parameters",
    "parameters_source",
    "parse_parameters",
    "read_notebook",
    "write_notebook",
]
