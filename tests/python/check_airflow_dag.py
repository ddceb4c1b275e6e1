"""Load examples/airflow with Airflow's own DagBag (what the scheduler's DAG processor runs) and
check the eosflow DAG: no import errors, the classic schedule, one produce task that runs the
eosflow binary, and at most one run at a time. Prints one JSON line; exits non-zero on a problem.

usage: check_airflow_dag.py DAG_FOLDER   (run with the Python that has apache-airflow installed)
"""

import json
import sys

try:  # Airflow >= 3.2
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2.x to 3.1
    from airflow.models.dagbag import DagBag

import airflow


def main() -> int:
    folder = sys.argv[1]
    bag = DagBag(dag_folder=folder)
    problems = []
    if bag.import_errors:
        problems.append(f"import errors: {bag.import_errors}")
    dag = bag.dags.get("eosflow_users")
    summary = {"airflow": airflow.__version__, "dag_ids": sorted(bag.dag_ids)}
    if dag is None:
        problems.append(f"no DAG eosflow_users in {folder}")
    else:
        tasks = {t.task_id: t for t in dag.tasks}
        task = tasks.get("produce_users")
        command = getattr(task, "bash_command", None)
        summary.update(
            tasks=sorted(tasks),
            operator=type(task).__name__ if task else None,
            bash_command=command,
            max_active_runs=dag.max_active_runs,
            catchup=dag.catchup,
            retries=task.retries if task else None,
        )
        if type(task).__name__ != "BashOperator":
            problems.append(f"produce_users is not a BashOperator: {task!r}")
        if not (isinstance(command, str) and command.startswith("eosflow produce ")):
            problems.append(f"produce_users does not run `eosflow produce`: {command!r}")
        if dag.max_active_runs != 1:
            problems.append("two runs at once would fence each other: max_active_runs must be 1")
    summary["problems"] = problems
    print(json.dumps(summary))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
