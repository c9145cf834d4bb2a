"""Turn MLflow's product telemetry off in every process peaktrade runs in, and every process it starts.

MLflow (≥ 3.x) sends usage records to an outside host from a background thread unless
``MLFLOW_DISABLE_TELEMETRY=true`` or ``DO_NOT_TRACK=true`` is set when ``mlflow`` is imported. peaktrade
sets both in ``os.environ`` at import, so the MLflow UI it launches, papermill kernels and any other child
process inherit them. When ``mlflow`` was imported before peaktrade (a notebook), its telemetry client is
re-evaluated, which drops it.
"""

from __future__ import annotations

import os
import sys

#: The switches MLflow reads (``mlflow.telemetry.utils.is_telemetry_disabled``).
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def mlflow_telemetry_off() -> dict[str, str]:
    """Set the telemetry switches in ``os.environ`` (and drop an already running MLflow client); return them."""
    os.environ.update(TELEMETRY_OFF)
    if "mlflow" in sys.modules:
        try:
            from mlflow.telemetry.client import set_telemetry_client

            set_telemetry_client()  # disabled now: sets the client to None
        except Exception:  # noqa: BLE001 — an MLflow without this module has no such telemetry
            pass
    return dict(TELEMETRY_OFF)


mlflow_telemetry_off()
