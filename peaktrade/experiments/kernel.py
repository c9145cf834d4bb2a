"""The Jupyter kernels peaktrade starts: papermill runs (``experiment run``, ``demo``) and JupyterLab (``lab``).

A run that succeeds prints nothing of the kernel's. Three kinds of noise came from the kernel process,
which writes to the terminal of the command that started it; each is fixed where it starts:

- ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption``: ipykernel warns when the
  manager gives it no CurveZMQ keys. :class:`QuietKernelManager` provisions them (``transport_encryption``)
  whenever libzmq supports Curve, so the kernel's sockets are encrypted and the warning has no cause.
- ``KeyboardInterrupt caught in kernel``: jupyter_client's ``shutdown_kernel`` sends SIGINT before its
  shutdown request, to stop code that is still running. After papermill has run the last cell the kernel is
  idle, so the interrupt only makes the kernel print that line; the manager skips it while it shuts down
  (a kernel that does not exit on the shutdown request is still terminated, then killed, by jupyter_client).
- debugpy's "frozen modules" warning of Python >= 3.11: :data:`KERNEL_ENV` turns off the file validation
  that prints it, in every kernel's environment (the papermill kernels and the ``peaktrade`` kernel spec).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.manager import AsyncKernelManager

#: Environment of every kernel peaktrade starts (see the module doc).
KERNEL_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}
#: The kernel spec ``peaktrade lab`` registers: the Python of the environment peaktrade runs in.
KERNEL_NAME = "peaktrade"
KERNEL_DISPLAY_NAME = "Python (peaktrade)"


class QuietKernelManager(AsyncKernelManager):
    """The kernel manager of papermill runs: encrypted sockets, no interrupt on shutdown, :data:`KERNEL_ENV`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if zmq.has("curve"):
            self.transport_encryption = "auto"  # keys for kernels whose spec declares Curve (ipykernel's does)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[Any, Any]:
        kw["env"] = {**os.environ, **(kw.get("env") or {}), **KERNEL_ENV}
        return await super()._async_pre_start_kernel(**kw)

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return  # an idle kernel at shutdown: the interrupt would only print "KeyboardInterrupt caught"
        await super()._async_interrupt_kernel()


def kernel_config_env(config: Any) -> dict[str, str]:
    """Return the environment that points kernels at ``config``'s file (``PEAK_TRADE_CONFIG_PATH``).

    A kernel runs in the notebook's folder and would otherwise load the config of whatever project
    that folder is in (or none): with ``--config`` or a spec naming a notebook of another checkout, it
    would discover other strategies (not the project's ``strategies/``) and log to another MLflow
    store. Kernels inherit the environment of the process that starts them (papermill's manager, the
    JupyterLab server), so set this around starting them (``PEAKTRADE__*`` overrides are inherited as
    they are). Empty for the built-in defaults: there is no file to point at.
    """
    from peaktrade.config import ENV_PATH_VAR

    path = Path(config.source.removesuffix(" + environment"))
    return {ENV_PATH_VAR: str(path.resolve())} if path.is_file() else {}


def kernel_spec_dir(name: str = KERNEL_NAME, *, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Return where the kernel spec ``name`` of the environment ``prefix`` (default ``sys.prefix``) lives."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / name


def ensure_kernel_spec(*, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Write (or refresh) the ``peaktrade`` kernel spec of this environment and return its directory.

    The spec runs this interpreter (``sys.executable``: the project's .venv when peaktrade runs from it),
    with :data:`KERNEL_ENV`, and declares Curve support as ipykernel's own spec does. It lives in the
    environment (``<prefix>/share/jupyter/kernels/peaktrade``), so the JupyterLab of the same environment
    lists it and no other environment sees it.
    """
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "env": dict(KERNEL_ENV),
        "metadata": {"debugger": True, "supported_encryption": ["curve"]},
    }
    d = kernel_spec_dir(prefix=prefix)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        from peaktrade._files import atomic_write_text

        atomic_write_text(path, text)
    return d


def lab_command(notebooks: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8888,
                open_browser: bool = False) -> list[str]:
    """Return the command line of JupyterLab serving ``notebooks`` with the ``peaktrade`` kernel as default.

    The token is not on the command line (argv is visible to every user of the machine): the server reads
    it from ``JUPYTER_TOKEN`` (see ``peaktrade lab``) or makes one itself.
    """
    from peaktrade.errors import PeakTradeError

    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise PeakTradeError(f"port={port!r} is invalid: expected an integer in [1, 65535]")
    if not host or any(c.isspace() for c in host):
        raise PeakTradeError(f"host={host!r} is invalid: expected a host name or address")
    root = Path(notebooks)
    if not root.is_dir():
        raise PeakTradeError(f"notebook directory {root} does not exist: expected the project's notebooks/")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", f"--ServerApp.ip={host}",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.open_browser={open_browser}", f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # containers and CI run as root; Jupyter refuses it otherwise
    return cmd
