"""The Key-Value Store add-on (heroku-redis): one real `redis-server` per add-on.

`plans` holds Heroku's plan table and eviction policies, `instance` an add-on's files under
`PAAS_HOME/redis/<add-on>/` (its settings, passwords and the server's configuration), `server`
the process (start, adopt after a daemon restart, watch, stop), `admin` the platform's own
connection to a server, and `provider` the `AddonProvider` that ties them together.
"""
