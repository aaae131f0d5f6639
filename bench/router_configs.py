"""Config files for the router benchmark: a trivial nginx backend, nginx and HAProxy as proxies.

Every server runs one worker on 127.0.0.1, and each proxy does the work the router does per
request (request id, X-Forwarded-*, X-Request-Start, Via, one access-log line), so the
comparison is like for like. `reuse=False` opens a new connection to the backend per request
(nginx's default; Heroku's legacy router); `reuse=True` keeps backend connections alive
(Router 2.0, the app feature http-routing-2-dot-0).
"""

from __future__ import annotations

from pathlib import Path


def _nginx_common(tmp: Path) -> str:
    return f"""
master_process off;
daemon off;
worker_processes 1;
pid {tmp}/nginx-%(name)s.pid;
error_log {tmp}/nginx-%(name)s-error.log warn;
events {{ worker_connections 8000; multi_accept on; }}
"""


def nginx_backend(tmp: Path, port: int) -> str:
    """The trivial backend: answers 200 "ok" to everything, keep-alive allowed."""
    common = _nginx_common(tmp) % {"name": "backend"}
    return (
        common
        + f"""
http {{
  client_body_temp_path {tmp}/b-body; proxy_temp_path {tmp}/b-proxy;
  fastcgi_temp_path {tmp}/b-fcgi; uwsgi_temp_path {tmp}/b-uwsgi; scgi_temp_path {tmp}/b-scgi;
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type text/plain; return 200 "ok\\n"; }}
  }}
}}
"""
    )


def nginx_proxy(tmp: Path, port: int, backend_port: int, reuse: bool) -> str:
    common = _nginx_common(tmp) % {"name": "proxy"}
    keepalive = "keepalive 64;" if reuse else ""
    http11 = 'proxy_http_version 1.1; proxy_set_header Connection "";' if reuse else ""
    return (
        common
        + f"""
http {{
  client_body_temp_path {tmp}/p-body; proxy_temp_path {tmp}/p-proxy;
  fastcgi_temp_path {tmp}/p-fcgi; uwsgi_temp_path {tmp}/p-uwsgi; scgi_temp_path {tmp}/p-scgi;
  log_format heroku 'at=info method=$request_method path="$request_uri" host=$host '
                    'request_id=$request_id fwd="$proxy_add_x_forwarded_for" dyno=web.1 '
                    'connect=$upstream_connect_time service=$upstream_response_time '
                    'status=$status bytes=$upstream_response_length protocol=$scheme';
  access_log {tmp}/nginx-proxy-access.log heroku buffer=64k;
  keepalive_requests 1000000;
  upstream dyno {{ server 127.0.0.1:{backend_port}; {keepalive} }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://dyno;
      {http11}
      proxy_set_header Host $host;
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Request-Start $msec;
      proxy_set_header Via "1.1 nginx";
    }}
  }}
}}
"""
    )


def haproxy(tmp: Path, port: int, backend_port: int, reuse: bool) -> str:
    reuse_lines = "  http-reuse always\n" if reuse else "  option http-server-close\n  http-reuse never\n"
    return f"""
global
  nbthread 1
  maxconn 8000
  log stdout format raw local0
  pidfile {tmp}/haproxy.pid

defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 60s
  timeout server 60s
{reuse_lines}
frontend routing
  bind 127.0.0.1:{port}
  option forwardfor
  unique-id-format %{{+X}}o%ci%cp%fi%fp%Ts%rt%pid
  unique-id-header X-Request-Id
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Request-Start %[date(0,ms)]
  http-request add-header Via "1.1 haproxy"
  default_backend dyno

backend dyno
  server web1 127.0.0.1:{backend_port}
"""
