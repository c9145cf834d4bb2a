"""The kernels papermill runs start (peaktrade.experiments.kernel): quiet on success, with a real kernel."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import nbformat
from helpers import REPO_ROOT
from jupyter_client.manager import AsyncKernelManager

from peaktrade.experiments.kernel import KERNEL_ENV, QuietKernelManager


def _signals_at_shutdown(manager_class: type) -> list[int]:
    async def go() -> list[int]:
        km = manager_class(kernel_name="python3")
        await km.start_kernel()
        sent: list[int] = []
        send = km.provisioner.send_signal

        async def spy(signum: int) -> None:
            sent.append(signum)
            await send(signum)

        km.provisioner.send_signal = spy
        await km.shutdown_kernel()
        return sent

    return asyncio.run(go())


def test_shutdown_when_kernel_idle_then_no_interrupt_is_sent():
    # jupyter_client interrupts before every shutdown: an idle kernel answers with "KeyboardInterrupt caught"
    assert signal.SIGINT in _signals_at_shutdown(AsyncKernelManager)
    assert signal.SIGINT not in _signals_at_shutdown(QuietKernelManager)


def test_papermill_run_when_quiet_manager_then_kernel_prints_nothing(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nos.environ.get('PYDEVD_DISABLE_FILE_VALIDATION')")]
    src, out = tmp_path / "t.ipynb", tmp_path / "t.out.ipynb"
    nbformat.write(nb, src)
    code = ("import papermill, sys\nfrom peaktrade.experiments.kernel import QuietKernelManager\n"
            f"papermill.execute_notebook({str(src)!r}, {str(out)!r}, kernel_name='python3', progress_bar=False,"
            " log_output=False, kernel_manager_class=QuietKernelManager)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "IPKernelApp" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    result = nbformat.read(out, as_version=4).cells[0].outputs[0]["data"]["text/plain"]
    assert result == repr(KERNEL_ENV["PYDEVD_DISABLE_FILE_VALIDATION"])  # the kernel's environment has it


def test_quiet_manager_when_libzmq_has_curve_then_kernel_sockets_are_encrypted():
    import zmq

    async def go() -> bool:
        km = QuietKernelManager(kernel_name="python3")
        await km.start_kernel()
        try:
            return km.curve_publickey is not None
        finally:
            await km.shutdown_kernel(now=True)

    assert asyncio.run(go()) is zmq.has("curve")
