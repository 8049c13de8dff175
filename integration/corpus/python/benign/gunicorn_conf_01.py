import multiprocessing
import os

bind = "0.0.0.0:" + os.environ.get("PORT", "8080")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("PYTHON_MAX_THREADS", 1))
timeout = int(os.environ.get("WEB_TIMEOUT", 120))
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = "*"
worker_tmp_dir = "/dev/shm"


def post_fork(server, worker):
    server.log.info("worker spawned (pid: %s)", worker.pid)
