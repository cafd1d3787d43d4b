"""Reminder jobs: plan the next two days every hour; dispatch what is due every minute."""

import os
import socket

from flask import current_app

from api.services.notify import push
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from jobs.registry import job

WORKER = f"{socket.gethostname()}:{os.getpid()}"


@job("plan_reminders", "interval", hours=1)
def plan(now) -> dict:
    return reminders.plan_all(now)


@job("dispatch_reminders", "interval", minutes=1)
def deliver(now) -> dict:
    channel = push.channel_from_config(current_app.config)
    return dispatch.tick(now, worker=WORKER, channel=channel)
