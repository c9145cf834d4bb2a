"""``peaktrade experiment run``: papermill batch runs of a notebook from an experiment spec."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from peaktrade.cli._common import console, err_console, load_cfg
from peaktrade.cli.research_cmd import CLUSTER_OPTION

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Experiment spec, e.g. experiments/btc-ma-sweep.toml."),
    parallel: int = typer.Option(1, "--parallel", help="Notebooks executed at once."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and list the runs; execute nothing."),
    out: Path | None = typer.Option(None, "--out", help="Directory for the executed notebooks."),
    allow_lookahead: bool = typer.Option(
        False, "--allow-lookahead",
        help="Run even if a strategy fails the lookahead check (like allow_lookahead = true in the spec)."),
    cluster: str | None = CLUSTER_OPTION,
) -> None:
    """Execute each parameter set of SPEC with papermill, tracked in MLflow; exit 1 if any run failed.

    Every strategy the runs use is lookahead-checked first (cached per strategy code and parameters);
    a strategy that reads the future refuses the experiment (exit 2) unless allowed."""
    from peaktrade.experiments.batch import check_inputs, check_lookahead, load_spec, run_experiment

    cfg = load_cfg(ctx.obj)
    s = load_spec(spec, root=cfg.root)
    check_inputs(s, config=cfg)
    t = Table(title=f"experiment {s.name}: {len(s.parameter_sets)} run(s) of {s.notebook.name}")
    t.add_column("#", justify="right")
    t.add_column("parameters")
    for i, p in enumerate(s.parameter_sets):
        t.add_row(str(i), ", ".join(f"{k}={v!r}" for k, v in p.items()))
    console.print(t)
    for v in check_lookahead(s, config=cfg, allow=allow_lookahead):
        line = f"lookahead check of {v.strategy}: " + ("passed" if v.passed else f"FAILED, allowed: {v.message}")
        (console if v.passed else err_console).print(line + (" (cached)" if v.cached else ""), highlight=False,
                                                     markup=False, soft_wrap=True)
    if dry_run:
        console.print("dry run: every parameter is declared by the notebook, every strategy checked; "
                      "nothing executed")
        return
    outcomes = run_experiment(s, config=cfg, parallel=parallel, out_dir=out, allow_lookahead=allow_lookahead,
                              cluster=cluster)
    # plain lines printed whole (soft wrap), not a table: run ids and paths are never cut or broken mid-word
    console.print("results:")
    for o in outcomes:
        console.print(f"#{o.index} {'ok' if o.ok else 'FAILED'} in {o.seconds:.1f} s, MLflow run {o.run_id or '-'}, "
                      f"notebook {o.output}", soft_wrap=True, highlight=False, markup=False)
    _print_links(s.name, outcomes, cfg)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        err_console.print(f"[red]run {o.index} failed:[/] {o.error}", highlight=False)
        if o.failed_cell:
            err_console.print(f"failing cell:\n{o.failed_cell}", highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


def _print_links(name: str, outcomes: list, cfg) -> None:
    """Print the MLflow UI links of the spec's experiment and of each run (run pages, whole and clickable)."""
    from peaktrade.tracking import run_url

    links = []
    for o in outcomes:
        if o.run_id:
            try:
                links.append((o.index, run_url(o.run_id, config=cfg)))
            except Exception:  # noqa: BLE001  (a link is a convenience; the results are printed above)
                continue
    if links:
        exp_page = links[0][1].split("/runs/")[0]
        console.print(f"MLflow experiment {name!r}: {exp_page}   (serve it with: peaktrade mlflow ui)",
                      highlight=False, markup=False, soft_wrap=True)
        for i, url in links:
            console.print(f"  run #{i}: {url}", highlight=False, markup=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the ``experiment`` group to the root app."""
    root.add_typer(app, name="experiment", help="Run papermill batch experiments from specs.")
