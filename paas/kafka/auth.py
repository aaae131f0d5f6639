"""Who is on a connection: a Kafka principal (`User:<name>`), and the listener it came through.

Principals come from SASL (PLAIN or SCRAM-SHA-256/512: the user name) or from the client
certificate on the TLS listener (its common name, as Kafka's
`ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/`). What a principal may do is decided by
ACLs only (`acls.Authorizer`); the platform's admin user (SASL `paas` with the daemon's token)
is the one super user. A connection that has not authenticated is `User:ANONYMOUS`, which no
ACL names: it may ask for ApiVersions, SASL and broker metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_USER = "paas"


@dataclass(frozen=True, slots=True)
class Principal:
    user: str | None  # None: not authenticated

    @property
    def name(self) -> str:
        return f"User:{self.user}" if self.user is not None else "User:ANONYMOUS"

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    @property
    def is_admin(self) -> bool:
        return self.user == ADMIN_USER


ANONYMOUS = Principal(None)
ADMIN = Principal(ADMIN_USER)
