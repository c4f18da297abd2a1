"""Where Airflow writes a task attempt's log under its log folder (not dbt: Airflow's own layout)."""

from __future__ import annotations

from pathlib import Path


def airflow_task_log_path(
    folder: Path, *, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
) -> Path:
    """``{folder}/dag_id=…/run_id=…/task_id=…/[map_index=…/]attempt={try}.log``.

    Airflow's default ``log_filename_template`` (2.x and 3.x alike); ``map_index`` -1 is an
    unmapped task. The path is built from untrusted text: open it only through ``shared.paths.inside``.
    """
    path = folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        path = path / f"map_index={map_index}"
    return path / f"attempt={try_number}.log"
