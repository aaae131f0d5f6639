"""Heroku Scheduler: jobs every 10 minutes, every hour at :MM or every day at HH:MM UTC, each
run a one-off dyno `scheduler.N` (the add-on is `paas.addons.scheduler`)."""
