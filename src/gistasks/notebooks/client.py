"""Talking to one kernel: connecting, the hidden setup, and nbclient with bounded outputs.

Internal to the engine (:mod:`gistasks.notebooks.engine` drives it); everything here runs on
the event loop of the thread that executes one run.

* :func:`connect` opens the shell and iopub channels and waits until the kernel answers
  ``kernel_info`` *and* iopub delivers that request's idle status: from then on no output can
  be lost to ZeroMQ's late subscription, without jupyter_client's fixed 0.2 s iopub flush.
* :func:`apply_setup` runs the hidden setup (``os.chdir``, ``os.environ.update``) silently,
  without history: it is not a cell, it gets no execution count and is not in the notebook.
* :class:`BoundedNotebookClient` is nbclient's ``NotebookClient`` that keeps at most so much
  output per cell and per run (further output is dropped with one notice), never stores
  widget state, and handles no widget comms (an output widget would collect output nothing
  bounds).
"""

from __future__ import annotations

import json
import time
from queue import Empty
from typing import Any

import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from nbclient import NotebookClient
from nbformat import NotebookNode

from gistasks.notebooks import _nbf
from gistasks.notebooks.documents import Limits
from gistasks.notebooks.kernels import Kernel

POLL_S = 0.1
"""How long one wait for a kernel message lasts before the kernel's life is checked again."""
IOPUB_SYNC_S = 0.1
"""How long a handshake waits for iopub to deliver its status before asking again."""
ERROR_OUTPUT_CHARS = 64 * 1024
"""The most traceback text an error output keeps (its last frames)."""


class KernelGoneError(RuntimeError):
    """The kernel process ended while the engine was waiting for it."""


class SetupError(RuntimeError):
    """The hidden setup failed in the kernel (``str`` is its ``ename: evalue``)."""


class KernelClient(AsyncKernelClient):
    """An asynchronous client whose ``is_alive`` asks the process, not a heartbeat thread."""

    def __init__(self, kernel: Kernel, context: zmq.asyncio.Context) -> None:
        super().__init__(context=context)
        self.kernel = kernel
        self.load_connection_info(kernel.connection_info)  # type: ignore[arg-type]

    async def is_alive(self) -> bool:
        return self.kernel.alive()

    def close(self) -> None:
        """Close the channels this engine opens (shell and iopub)."""
        for channel in (self._shell_channel, self._iopub_channel):
            if channel is not None:
                channel.close()


async def _reply(kc: KernelClient, msg_id: str) -> dict[str, Any]:
    """The shell reply to ``msg_id``; KernelGoneError if the kernel ends first."""
    while True:
        try:
            msg: dict[str, Any] = await kc.get_shell_msg(timeout=POLL_S)
        except Empty:
            if not kc.kernel.alive():
                raise KernelGoneError("the kernel ended before it answered") from None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


async def _idle_seen(kc: KernelClient, msg_id: str, timeout: float) -> bool:
    """Whether iopub delivers the idle status of ``msg_id`` within ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return False
        try:
            msg: dict[str, Any] = await kc.get_iopub_msg(timeout=remaining)
        except Empty:
            return False
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"):
            return True


async def connect(kernel: Kernel, context: zmq.asyncio.Context) -> tuple[KernelClient,
                                                                         dict[str, Any]]:
    """A client connected to ``kernel`` once it is ready, and its ``kernel_info`` content.

    Waits as long as the kernel lives (the caller bounds it); KernelGoneError if it ends."""
    kc = KernelClient(kernel, context)
    try:
        kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        while True:
            msg_id = kc.kernel_info()
            reply = await _reply(kc, msg_id)
            if await _idle_seen(kc, msg_id, IOPUB_SYNC_S):
                return kc, reply["content"]
    except BaseException:
        kc.close()
        raise


def setup_code(cwd: str | None, env: dict[str, str]) -> str:
    """The hidden setup: change directory, add the environment; no name is left behind."""
    lines = []
    if cwd is not None:
        lines.append(f"__import__('os').chdir({cwd!r})")
    if env:
        lines.append(f"__import__('os').environ.update({env!r})")
    return "\n".join(lines)


async def apply_setup(kc: KernelClient, code: str) -> None:
    """Run ``code`` silently in the kernel; SetupError if it raises."""
    if not code:
        return
    msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                        stop_on_error=False)
    content = (await _reply(kc, msg_id))["content"]
    if content.get("status") != "ok":
        raise SetupError(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")


def _data_size(data: Any) -> int:
    if not isinstance(data, dict):
        return 0
    size = 0
    for value in data.values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value))
    return size


def _message_size(msg_type: str, content: dict[str, Any]) -> int:
    if msg_type == "stream":
        text = content.get("text")
        return len(text) if isinstance(text, str) else 0
    if msg_type == "error":
        return sum(len(str(line)) for line in content.get("traceback") or ())
    return _data_size(content.get("data"))


class BoundedNotebookClient(NotebookClient):
    """nbclient's client with output bounds (``Limits.max_output_per_cell`` and
    ``max_output_total``). Error outputs are always kept, their traceback cut to its last
    64 KiB. Use ``execute_cells`` with a connected client; nbclient never owns the kernel."""

    def __init__(self, nb: NotebookNode, kc: KernelClient, limits: Limits,
                 **kw: Any) -> None:
        super().__init__(nb, km=None, store_widget_state=False, **kw)
        self.kc = kc
        self.comm_open_handlers = {}
        self.limits = limits
        self.current: int | None = None
        """The index of the cell executing now (None before the first)."""
        self.errors: list[dict[str, Any]] = []
        """The error replies of the cells that raised, in order."""
        self._cell = -1
        self._cell_used = 0
        self._cell_full = False
        self._total_used = 0
        self.on_cell_error = self._record_error

    def _record_error(self, cell: NotebookNode, cell_index: int,
                      execute_reply: dict[str, Any]) -> None:
        self.errors.append({"index": cell_index, **execute_reply.get("content", {})})

    async def execute_cells(self, language_info: dict[str, Any] | None) -> NotebookNode:
        """Execute every cell in order, as ``NotebookClient.execute`` would, on ``self.kc``.
        Raises nbclient's CellExecutionError for a cell that raised, DeadKernelError when the
        kernel died."""
        if language_info:
            self.nb.metadata["language_info"] = language_info
        for index, cell in enumerate(self.nb.cells):
            self.current = index
            await self.async_execute_cell(cell, index,
                                          execution_count=self.code_cells_executed + 1)
        self.current = None
        self.set_widgets_metadata()
        return self.nb

    # -- bounded output --------------------------------------------------------------------

    def _enter(self, cell_index: int) -> None:
        if cell_index != self._cell:
            self._cell, self._cell_used, self._cell_full = cell_index, 0, False

    def _cleared(self) -> None:
        self._total_used -= self._cell_used
        self._cell_used, self._cell_full = 0, False

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        self._enter(cell_index)
        if self.clear_before_next_output:  # nbclient clears ``outs`` before appending
            self._cleared()
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "error":
            tb = [str(line) for line in content.get("traceback") or ()]
            kept: list[str] = []
            room = ERROR_OUTPUT_CHARS
            for line in reversed(tb):
                if len(line) > room:
                    break
                kept.append(line)
                room -= len(line)
            if len(kept) < len(tb):
                content["traceback"] = ["…", *reversed(kept)]
            self._total_used += _message_size(msg_type, content)
            return super().output(outs, msg, display_id, cell_index)
        if self._cell_full:
            return None
        size = _message_size(msg_type, content)
        room = min(self.limits.max_output_per_cell - self._cell_used,
                   self.limits.max_output_total - self._total_used)
        if size <= room:
            self._cell_used += size
            self._total_used += size
            return super().output(outs, msg, display_id, cell_index)
        self._cell_full = True
        out = None
        if msg_type == "stream" and room > 0:
            content["text"] = content["text"][:room]
            self._cell_used += room
            self._total_used += room
            out = super().output(outs, msg, display_id, cell_index)
        outs.append(_nbf.new_output(
            "stream", name="stderr",
            text=f"\n[output truncated: more than {self._limit_text()} characters of "
                 "output; the rest of this cell's output was dropped]\n"))
        return out

    def _limit_text(self) -> str:
        if self._total_used >= self.limits.max_output_total - 1:
            return f"{self.limits.max_output_total} (the whole run's)"
        return f"{self.limits.max_output_per_cell} (this cell's)"

    def clear_output(self, outs: list[NotebookNode], msg: dict[str, Any],
                     cell_index: int) -> None:
        self._enter(cell_index)
        super().clear_output(outs, msg, cell_index)
        if not msg["content"].get("wait"):
            self._cleared()

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        # An update replaces earlier outputs' data in place: refuse one beyond a cell's bound.
        if _data_size(msg["content"].get("data")) > self.limits.max_output_per_cell:
            return
        super()._update_display_id(display_id, msg)
