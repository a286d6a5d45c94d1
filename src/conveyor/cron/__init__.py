"""Periodic jobs, as RQ's ``rq.cron``: ``cron.register(...)`` in a config file, run by
``conveyor cron CONFIG``.

from conveyor import cron
from myapp.jobs import cleanup, report

cron.register(cleanup, queue_name="default", interval=600)
cron.register(report, queue_name="reports", cron="0 9 * * mon-fri")
"""

from conveyor.cron.config import load_config, register
from conveyor.cron.entry import CronJob
from conveyor.cron.scheduler import CronScheduler

__all__ = ["CronJob", "CronScheduler", "load_config", "register"]
