"""Web dyno autoscaling on the router's p95 response time (Heroku's `ps:autoscale`)."""
