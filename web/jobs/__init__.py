"""Scheduled jobs that run once per tick across the cluster.

* ``registry``: the jobs, declared in one place with stable ids (``JOBS``).
* ``cleanup``: the job bodies, plain functions tests call directly.
* ``locks``: the cluster-wide lock per execution (advisory lock, Redis SET NX EX, lock row).
* ``runner``: ``run_job`` — lock, once-per-tick check, ``job_runs`` row, metrics.
* ``scheduler``: APScheduler 3 wiring, embedded in gunicorn workers or standalone.
* ``status``: the last run and last success per job.
* ``health``: the jobs in the health document and on ``/metrics`` (plugged in by the factory).
"""
