import os

from celery import Celery
from celery.schedules import crontab

app = Celery("tasks", broker=os.environ.get("BROKER_URL", "redis://redis:6379/0"))
app.conf.update(
    result_backend=os.environ.get("RESULT_BACKEND", "redis://redis:6379/1"),
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    worker_max_tasks_per_child=1000,
    beat_schedule={
        "cleanup-sessions": {"task": "tasks.cleanup_sessions", "schedule": crontab(minute=0, hour="*/6")},
        "send-digest": {"task": "tasks.send_digest", "schedule": crontab(minute=30, hour=7)},
    },
)


@app.task(bind=True, max_retries=3)
def cleanup_sessions(self):
    from app.models import Session
    return Session.purge_expired()
