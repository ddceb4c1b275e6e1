"""eosflow_users: the classic "randomuser -> Kafka" Airflow DAG, exactly once.

The classic pipeline's DAG ran a Python task that fetched users from randomuser.me and sent them
to Kafka with a plain producer for a few minutes, so every retry or re-run duplicated or lost
users. Here the task runs `eosflow produce`: each page of users is one Kafka transaction, and the
producer resumes from the cursor it keeps in the compacted progress topic. A retried, re-run or
killed task therefore neither loses nor duplicates a user.

The task needs the `eosflow` binary on PATH and the connection settings in the environment of the
Airflow worker (EOSFLOW_BOOTSTRAP, EOSFLOW_REGISTRY, ...; the compose file's `airflow` profile sets
them). See README.md beside this file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:  # Airflow 3, or Airflow 2 with apache-airflow-providers-standard
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

# The classic schedule: one page every 10 seconds for 5 minutes. The transactional id and seed are
# this DAG's own, so its runs never fence the compose file's `eosflow-producer` (which uses the
# defaults) and produce their own users: with seed, page and index they make every user's identity.
# Every run resumes where the previous one stopped.
EOSFLOW_PRODUCE = (
    "eosflow produce --transactional-id eosflow-airflow --seed airflow --for 5m --every 10s"
)

with DAG(
    dag_id="eosflow_users",
    description="Generated users -> Avro (Schema Registry) -> Kafka, one transaction per page",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # Two runs at once would share the transactional id: the second would fence the first.
    max_active_runs=1,
    default_args={
        # Safe: a retry resumes from the progress cursor and replays the last page whole.
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=10),
    },
    tags=["eosflow", "kafka"],
) as dag:
    BashOperator(task_id="produce_users", bash_command=EOSFLOW_PRODUCE)
