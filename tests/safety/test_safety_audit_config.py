"""One place decides where the decision log goes: DecisionLog.from_config (CLI, factory and guard use it)."""

from __future__ import annotations

from peaktrade.safety import DecisionLog


def test_decision_log_from_config_when_audit_on_then_appends_to_state_dir_audit_file(make_cfg):
    cfg = make_cfg(safety={"audit": True})
    log = DecisionLog.from_config(cfg)
    assert log.path == cfg.state_dir / "audit.jsonl"
    assert log.record(component="t", kind="order", allowed=False, gate="g", reason="r", environment="paper")
    assert (cfg.state_dir / "audit.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_decision_log_from_config_when_audit_off_then_memory_only(make_cfg):
    cfg = make_cfg(safety={"audit": False})
    log = DecisionLog.from_config(cfg)
    assert log.path is None
    log.record(component="t", kind="order", allowed=True, gate="g", reason="", environment="paper")
    assert len(log.records) == 1 and not (cfg.state_dir / "audit.jsonl").exists()


def test_kill_switch_cli_when_engaged_then_recorded_in_the_configured_audit_file(make_cfg, cli):
    cfg = make_cfg(safety={"audit": True})
    r = cli("kill-switch", "on", "--reason", "test")
    assert r.exit_code == 0, r.stderr
    assert '"kill_switch"' in (cfg.state_dir / "audit.jsonl").read_text(encoding="utf-8")
