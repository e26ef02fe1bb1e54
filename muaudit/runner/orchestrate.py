"""One audit, start to end: validate, plan with DVC, run the stale stages through the Prefect flow, record
it in MLflow, print the verdicts.

`muaudit run` and the scheduled flow of `muaudit serve` both call run_audit, so a scheduled run does
exactly what a manual one does (including the no-op run record when nothing is stale).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from muaudit.runner.failures import LOG_DIR
from muaudit.runner.workspace import REPORT, project_code

RUNNERS = ("local", "dask")
RESULT_STAGES = ("metrics", "report")  # the stages whose outputs are the audit's result (verdicts, report)


def default_workers(threads: int) -> int:
    """As many stages at once as fit the cores when each uses `threads` torch threads."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def summary_lines(workspace: Path) -> str:
    md = workspace / "data/report/report.md"
    if not md.exists():
        return ""
    shown, section = [], ""
    for line in md.read_text().splitlines():
        section = line if line.startswith("## ") else section
        # headings too, so the instrument check table and the verdict table print as two labelled tables;
        # and the conclusion's sentences, which open the report
        if line.startswith(("|", "## ")) or (section == "## Conclusion" and line.startswith("- ")):
            shown.append(line)
    return "\n".join(shown)


def run_audit(workspace: str | Path, workers: int | None = None, runner: str = "local", address: str | None = None,
              strict: bool = False) -> int:
    """Run the stale stages of the workspace; returns the exit code of `muaudit run`.

    A result belongs to its run: the verdict table and the report path are printed only when this run's
    result stages (RESULT_STAGES) are current, i.e. ran now or were already up to date. Otherwise the
    output says that this run has no report and names the last good one as an earlier run's.
    """
    from muaudit.errors import BadInputError, MuauditError

    if runner not in RUNNERS:
        raise BadInputError(f"--runner: expected one of {', '.join(RUNNERS)}, got '{runner}'")
    if workers is not None and workers < 1:
        raise BadInputError(f"--workers: expected a positive number of stages at once, got {workers}")
    ws = Path(workspace).resolve()
    os.chdir(ws)
    project_code(ws)
    try:
        outcome = _audit(ws, workers, runner, address)
    except MuauditError:  # refused before any stage ran (bad params or data, a busy workspace)
        if (earlier := _last_good_report(ws)) is not None:
            print(f"This run wrote no report. {earlier}")
        raise
    if not all(outcome.get(s, "ok") == "ok" for s in RESULT_STAGES):
        print(_stages_failed(outcome), file=sys.stderr)
        earlier = _last_good_report(ws)
        print("No report from this run: its " + " and ".join(RESULT_STAGES) + " stages did not complete"
              + (f". {earlier}" if earlier else ", and no earlier report exists."))
        return 1
    table = summary_lines(ws)
    if table:
        print(table)
    if (ws / REPORT).exists():
        print(f"Report: {ws / REPORT}")
    if any(v != "ok" for v in outcome.values()):
        print(_stages_failed(outcome), file=sys.stderr)
        return 1
    failures = _method_failures(ws)
    for method, why in failures.items():
        print(f"error: method {method} failed: {why}", file=sys.stderr)
    if failures:
        print("error: at least one method failed; see the report", file=sys.stderr)
        return 1
    from muaudit.runner.strict import failed_controls as _failed

    failed_controls = _failed(ws)
    if failed_controls and not strict:
        print(f"warning: control(s) failed the instrument check: {', '.join(failed_controls)}; see the report",
              file=sys.stderr)
    if strict:
        from muaudit.runner.strict import strict_failures

        failures = strict_failures(ws)
        for line in failures:
            print(f"strict: {line}", file=sys.stderr)
        if failures:
            return 1
    return 0


def _audit(ws: Path, workers: int | None, runner: str, address: str | None) -> dict[str, str]:
    """Check, plan, run the stale stages and record the audit run; returns stage -> ok | failed | blocked."""
    from muaudit.checkpoint import remove_checkpoints_except
    from muaudit.config import load_params
    from muaudit.runner import tracking
    from muaudit.runner.pipeline import make_plan
    from muaudit.runner.workspace import exclusive, prefect_env
    from muaudit.validate import validate_inputs

    # The file's shape, keys, types and ranges are checked before the lock, the plan or MLflow touch the
    # workspace. The checks that import the method and metric code and load the dataset (3 s) run only
    # when a stage will run: on a no-op every stage that reads those keys already ran, and checked them,
    # with exactly these values (DVC compares every params key a stage lists).
    params = load_params(ws / "params.yaml", registries=False)
    workers = workers or default_workers(params.runtime.threads)
    start = time.perf_counter()
    with exclusive(ws), ExitStack() as machinery:
        _sweep_temps(ws)
        plan = make_plan(ws)
        remove_checkpoints_except(ws, plan.stages)  # those of recorded stages (e.g. by `dvc commit`) are spent
        tags = {"muaudit.kind": "audit", "muaudit.noop": str(plan.empty).lower(),
                "muaudit.stale_stages": ",".join(plan.stages), "muaudit.runner": runner}
        if plan.empty:
            # MLflow only records that the check happened: a background process writes it (and reaps the
            # runs of killed processes), so a no-op neither imports MLflow nor opens its store.
            from muaudit.runner.noop_record import record_in_background

            print("Nothing is stale: every stage matches dvc.lock; no stage ran.")
            record_in_background(ws, {**tags, "muaudit.result": "current"},
                                 {"stages_run": 0, "stages_failed": 0, "wall_time_s": time.perf_counter() - start})
            return {}
        _reap_dead_runs(ws)
        executor = server = None
        # The warm workers and Prefect's server start first, so that their start-up (4-5 s each, in
        # processes of their own) overlaps the import of Prefect here, the checks and the MLflow parent run.
        _check_runner(runner, address)
        prefect_env()
        from flows.workers import pool, prefect_api, prefect_logs_to

        if runner == "local":
            executor = machinery.enter_context(pool(str(ws), workers))
        prefect_logs_to(ws / LOG_DIR / "audit.log")
        server = machinery.enter_context(prefect_api(str(ws)))
        validate_inputs(load_params(ws / "params.yaml"))
        with tracking.run("audit", ws, tags=tags, source="muaudit run") as parent:
            try:
                outcome = _run_flow(ws, plan, workers, parent.run_id, runner, address, executor, server)
            except BaseException:  # interrupted (muaudit.runner.interrupt), or the flow itself broke
                _after_interrupt(ws)
                raise
            current = all(outcome.get(s, "ok") == "ok" for s in RESULT_STAGES)
            log_dataset(parent, ws)
            parent.set_tags({"muaudit.result": "current" if current else "none"})
            parent.log_metrics({"stages_run": sum(v == "ok" for v in outcome.values()),
                                "stages_failed": sum(v != "ok" for v in outcome.values()),
                                "wall_time_s": time.perf_counter() - start})
            report = ws / REPORT
            if outcome and current and report.exists():
                # the report, its plots (inline in index.html), manifest and DVC metrics/plots files
                for f in sorted(p for p in report.parent.iterdir() if p.is_file()):
                    parent.log_artifact(f, "report")
    return outcome


def log_dataset(parent, ws: Path) -> None:
    """The audited dataset as the audit run's input (MLflow's Datasets column), from the split's record."""
    import json

    split = ws / "data/split/split.json"
    if split.exists():
        info = json.loads(split.read_text())
        parent.log_dataset(info["dataset"], info["dataset_fingerprint"], info["dataset"],
                           {"fingerprint": info["dataset_fingerprint"], **info["counts"]})


def _after_interrupt(ws: Path) -> None:
    """The flow ended early: stop the stages, end the MLflow runs their workers left RUNNING and remove their
    temporaries now, not at the next audit."""
    from flows.workers import stop_workers
    from muaudit.io import sweep_stale_temps
    from muaudit.runner import tracking

    stop_workers()  # the flow stopped them if it was running; the pool may not have reached it
    tracking.reap_dead_runs(ws)
    sweep_stale_temps(ws / "data")


def _stages_failed(outcome: dict[str, str]) -> str:
    """One line: the stages that failed (each already said why) and those they blocked."""
    failed = sorted(s for s, v in outcome.items() if v == "failed")
    blocked = sorted(s for s, v in outcome.items() if v == "blocked")
    line = f"error: {len(failed)} stage(s) failed: {', '.join(failed)}"
    if blocked:
        shown = ", ".join(blocked[:8]) + (f" and {len(blocked) - 8} more" if len(blocked) > 8 else "")
        line += f"; {len(blocked)} blocked by them: {shown}"
    return line


def _last_good_report(ws: Path) -> str | None:
    """A sentence naming the report an earlier run left, as that run's and not this one's; None if none."""
    from muaudit.lineage.identity import check_report

    check = check_report(ws) if (ws / REPORT).exists() else None
    if check is None:
        return None
    where = ws / REPORT
    if check.identity is None:
        return f"The last good report is from an earlier run (its code commit and date are not recorded): {where}"
    commit = check.identity.get("code_commit", "unknown")
    written = check.identity.get("written_at", "an unknown time").replace("T", " ").replace("Z", " UTC")
    stale = "" if check.current else f"; it was built from other inputs than dvc.lock now records ({', '.join(check.changed)})"
    return (f"The last good report is from an earlier run, not this one (code commit {commit[:12]}, written "
            f"{written}){stale}: {where}")


def _sweep_temps(ws: Path) -> None:
    """Clean up after an audit that was killed: the temporaries its writers left (before DVC hashes data/)."""
    from muaudit.io import sweep_stale_temps

    for path in sweep_stale_temps(ws / "data"):
        print(f"removed the leftover of a killed writer: {path.relative_to(ws)}")


def _reap_dead_runs(ws: Path) -> None:
    """Mark KILLED the MLflow runs a killed audit left RUNNING (a no-op leaves this to its background record)."""
    from muaudit.runner import tracking

    if (ws / "mlflow.db").exists() or os.environ.get("MLFLOW_TRACKING_URI"):
        for run_id in tracking.reap_dead_runs(ws):
            print(f"marked MLflow run {run_id} KILLED: its process is gone")


def _method_failures(ws: Path) -> dict[str, str]:
    """Method -> its error, for every model whose verdict is `failed`."""
    from muaudit.runner.strict import report_manifest

    path = ws / "data/metrics/metrics.parquet"
    if not path.exists():
        return {}
    record = report_manifest(ws)  # the same run's verdicts (RESULT_STAGES are current here)
    if record is not None and "failed" not in record.get("verdicts", {}).values():
        return {}  # the errors' text is only in the metrics table
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["model", "metric", "layer", "label"]).to_pandas()
    failed = t[(t.metric == "verdict") & (t.layer == "") & (t.label == "failed")].model
    errors = t[t.metric == "error"].set_index("model").label
    return {m: errors.get(m, "see the report") for m in failed}


def _check_runner(runner: str, address: str | None) -> None:
    from muaudit.errors import BadInputError
    from muaudit.runner.workspace import prefect_api_url

    if runner == "dask" and address and not prefect_api_url():
        raise BadInputError("PREFECT_API_URL: not set; Dask workers on other machines report to a "
                            "persistent Prefect server: start one with `prefect server start`")


def _run_flow(ws: Path, plan, workers: int, parent_run_id: str, runner: str, address: str | None,
              executor, server) -> dict[str, str]:
    from dataclasses import asdict

    from flows.audit import StageWork, audit_flow, dask_runner, stages_recorded, task_runner
    from flows.workers import wait_prefect_api
    from muaudit.runner.pipeline import Committer

    where = f"Dask at {address}" if runner == "dask" and address else f"{workers} {runner} worker(s)"
    print(f"Running {len(plan.stages)} stale stage(s) on {where}: {', '.join(plan.stages)}")
    wait_prefect_api(server)
    if runner == "dask":
        # each stage runs, and is committed, inside the Dask worker process that got its task
        flow = audit_flow().with_options(task_runner=dask_runner(workers, address))
        return flow(str(ws), asdict(plan), parent_run_id)
    committer = Committer(ws, on_commit=lambda run_ids: stages_recorded(str(ws), run_ids))
    try:
        flow = audit_flow(StageWork(executor, committer)).with_options(task_runner=task_runner(workers))
        outcome = flow(str(ws), asdict(plan), parent_run_id)
    finally:
        # Every stage that finished is recorded, also when the flow was interrupted: nothing computed is lost.
        unrecorded = committer.close()
    for stage, error in unrecorded.items():
        print(f"error: {stage}: ran but could not be recorded in dvc.lock: {error}", file=sys.stderr)
        outcome[stage] = "failed"
    return outcome
