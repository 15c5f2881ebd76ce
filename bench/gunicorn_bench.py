"""gunicorn settings for every benchmark target (DealDesk and the baselines alike).

The same server, the same worker model and count for all, so only the app differs.
``bench/run.py`` passes ``--bind`` on the command line.
"""

workers = 2
worker_class = "sync"
threads = 1
timeout = 30
accesslog = None
loglevel = "warning"
