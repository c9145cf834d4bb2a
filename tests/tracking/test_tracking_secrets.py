"""Secrets never reach MLflow: not in params, tags, metric names, run names, artifacts or the database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd

from peaktrade.tracking import log_backtest, log_sweep, log_walk_forward, tracked_run


def test_tracking_when_api_secrets_are_set_then_no_secret_value_reaches_the_store(track_cfg, tmp_path, monkeypatch,
                                                                                  result, sweep_result, bars):
    key_env = f"PTKEY{uuid.uuid4().hex}"
    secret_env = f"PTSECRET{uuid.uuid4().hex}"
    secret_dotenv = f"PTDOTENV{uuid.uuid4().hex}"
    monkeypatch.setenv("KRAKEN_API_KEY", key_env)
    monkeypatch.setenv("KRAKEN_API_SECRET", secret_env)
    # the config root is tmp_path: its .env is read too (the environment wins for the same name)
    (tmp_path / ".env").write_text(f"KRAKEN_API_KEY={secret_dotenv}\nKRAKEN_API_SECRET='{secret_dotenv}'\n")
    cfg = track_cfg()
    assert cfg.secrets.kraken_api_key.get_secret_value() == key_env  # precondition: secrets are loaded
    monkeypatch.delenv("KRAKEN_API_SECRET")
    (tmp_path / ".env").write_text(f"KRAKEN_API_SECRET={secret_dotenv}\n")
    cfg2 = track_cfg()
    assert cfg2.secrets.kraken_api_secret.get_secret_value() == secret_dotenv
    secrets = [key_env, secret_env, secret_dotenv]

    from peaktrade.experiments import walk_forward

    wf = walk_forward("ma_crossover", bars, train=600, test=300, fast=[5, 10], slow=[30, 60], fees=0.001)
    ids = [
        log_backtest(result, config=cfg, symbol="BTC/USD", timeframe="1h"),
        log_sweep(sweep_result, config=cfg2, top_n=2, bars=bars, report=False),
        log_walk_forward(wf, config=cfg2, report=False),
    ]
    leak_file = tmp_path / "leak.txt"
    leak_file.write_text(f"copied by mistake: {key_env}\n")
    with tracked_run(config=cfg, run_name=f"run {key_env}", params={"api_key": key_env},
                     tags={"note": f"secret={secret_dotenv}"}) as run:
        run.log_metrics({f"m_{secret_dotenv}": 1.0})
        run.log_artifact(leak_file)
        run.log_text(f"token {secret_env}", "notes.txt")
        run.log_dataframe(pd.DataFrame({"x": [secret_env]}), "frame.csv")
    ids.append(run.run_id)
    assert all(ids)
    assert leak_file.read_text().endswith(f"{key_env}\n")  # the user's file itself is untouched

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    exps = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in exps], max_results=1000)
    assert len(runs) >= 4 + 2  # the sweep's children too
    texts: list[str] = []
    for r in runs:
        texts += [r.info.run_name or ""]
        texts += [f"{k}={v}" for k, v in r.data.params.items()]
        texts += [f"{k}={v}" for k, v in r.data.tags.items()]
        texts += list(r.data.metrics)
    for e in exps:
        texts += [e.name, e.artifact_location, *(f"{k}={v}" for k, v in e.tags.items())]
    for s in secrets:
        assert not [t for t in texts if s in t], f"secret found in run metadata: {s[:8]}…"

    files = [p for p in (tmp_path / "art").rglob("*") if p.is_file()]
    assert len(files) > 20
    db = Path(cfg.tracking.uri.removeprefix("sqlite:///"))
    for path in [*files, db]:
        raw = path.read_bytes()
        for s in secrets:
            assert s.encode() not in raw, f"secret found in {path.relative_to(tmp_path)}"

    config_json = next(p for p in files if p.name == "config.json")
    logged = json.loads(config_json.read_text())
    assert logged["secrets"]["kraken_api_key"] == "***"
