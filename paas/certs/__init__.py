"""Heroku SSL, locally: automatic certificates (ACM) and uploaded SNI endpoints for the router's TLS port."""

from paas.certs.service import CertService

__all__ = ["CertService"]
