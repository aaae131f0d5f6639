"""The Metrics view and the Prometheus endpoint, fed from the bus.

`timeline` keeps each app's last hour in fixed steps (ring buffers in memory, nothing on disk:
a daemon restart starts an empty hour, as a new Heroku metrics window would); `registry` keeps
the counters and histograms `/metrics` exposes; `service` listens on the bus and samples dyno
memory and load once per step; `openmetrics` and `page` render them.
"""
