"""Log drains (Logplex's forwarding side): syslog, syslog+tls, http(s) drains per app."""
