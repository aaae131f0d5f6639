"""A broker with one tenant made by the add-on, and connection settings for every real client.

Each client gets the tenant's credentials the way an app on Heroku would use them: the KAFKA_*
certificates over TLS (`tls`), or SCRAM-SHA-512 from KAFKA_SASL_* over SASL_PLAINTEXT (`sasl`).
`admin_*` variants log in as the cluster's admin (the daemon's token), for the admin surface.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.support.kafka_broker import BrokerThread, ensure_token
from tests.support.require import require

REPO = Path(__file__).resolve().parent.parent.parent
NODE_MODULES = REPO / ".venv" / "node" / "node_modules"
TRANSPORTS = ["tls", "sasl"]


class Cluster:
    def __init__(self, broker: BrokerThread, tmp: Path, tenant_id: str = "kafka-interop-10000"):
        self.broker = broker
        self.tmp = tmp
        self.creds = broker.call(lambda: broker.svc.create_tenant(tenant_id, "interop", "basic-2"))
        self.tenant_id = tenant_id
        self.config = broker.svc.config_vars(self.creds)
        self.admin_password = ensure_token(broker.settings)
        self.files: dict[str, str] = {}
        for key, var in (
            ("ca", "KAFKA_TRUSTED_CERT"),
            ("cert", "KAFKA_CLIENT_CERT"),
            ("key", "KAFKA_CLIENT_CERT_KEY"),
        ):
            path = tmp / f"{key}.pem"
            path.write_text(self.config[var])
            self.files[key] = str(path)

    @property
    def prefix(self) -> str:
        return self.config["KAFKA_PREFIX"]

    @property
    def username(self) -> str:
        return self.config["KAFKA_SASL_USERNAME"]

    @property
    def password(self) -> str:
        return self.config["KAFKA_SASL_PASSWORD"]

    def topic(self, name: str, partitions: int = 1) -> str:
        unique = f"{name}-{uuid.uuid4().hex[:6]}"
        made = self.broker.call(
            lambda: self.broker.svc.create_topic(self.tenant_id, unique, partitions=partitions)
        )
        return str(made.name)

    def group(self, name: str) -> str:
        unique = f"{name}-{uuid.uuid4().hex[:6]}"
        return str(self.broker.call(lambda: self.broker.svc.create_group(self.tenant_id, unique)).name)

    # ---------------------------------------------------------------- clients
    def confluent(self, transport: str, **extra: Any) -> dict[str, Any]:
        if transport == "tls":
            conf: dict[str, Any] = {
                "bootstrap.servers": self.config["KAFKA_URL"].removeprefix("kafka+ssl://"),
                "security.protocol": "SSL",
                "ssl.ca.pem": self.config["KAFKA_TRUSTED_CERT"],
                "ssl.certificate.pem": self.config["KAFKA_CLIENT_CERT"],
                "ssl.key.pem": self.config["KAFKA_CLIENT_CERT_KEY"],
            }
        else:
            conf = self._confluent_sasl(self.username, self.password)
        return {**conf, **extra}

    def _confluent_sasl(self, user: str, password: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.config["KAFKA_SASL_BOOTSTRAP_SERVERS"],
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": self.config["KAFKA_SASL_MECHANISM"],
            "sasl.username": user,
            "sasl.password": password,
        }

    def confluent_admin(self, **extra: Any) -> dict[str, Any]:
        return {**self._confluent_sasl("paas", self.admin_password), **extra}

    def confluent_as(self, user: str, password: str, **extra: Any) -> dict[str, Any]:
        return {**self._confluent_sasl(user, password), **extra}

    def kafka_python(self, transport: str, **extra: Any) -> dict[str, Any]:
        if transport == "tls":
            kw: dict[str, Any] = {
                "bootstrap_servers": self.config["KAFKA_URL"].removeprefix("kafka+ssl://"),
                "security_protocol": "SSL",
                "ssl_cafile": self.files["ca"],
                "ssl_certfile": self.files["cert"],
                "ssl_keyfile": self.files["key"],
            }
        else:
            kw = self._kafka_python_sasl(self.username, self.password)
        return {**kw, **extra}

    def _kafka_python_sasl(self, user: str, password: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.config["KAFKA_SASL_BOOTSTRAP_SERVERS"],
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": self.config["KAFKA_SASL_MECHANISM"],
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def kafka_python_admin(self, **extra: Any) -> dict[str, Any]:
        return {**self._kafka_python_sasl("paas", self.admin_password), **extra}

    def aiokafka(self, transport: str, **extra: Any) -> dict[str, Any]:
        if transport == "tls":
            ctx = ssl.create_default_context(cafile=self.files["ca"])
            ctx.load_cert_chain(self.files["cert"], self.files["key"])
            kw: dict[str, Any] = {
                "bootstrap_servers": self.config["KAFKA_URL"].removeprefix("kafka+ssl://"),
                "security_protocol": "SSL",
                "ssl_context": ctx,
            }
        else:
            kw = {
                "bootstrap_servers": self.config["KAFKA_SASL_BOOTSTRAP_SERVERS"],
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": self.config["KAFKA_SASL_MECHANISM"],
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return {**kw, **extra}

    def kcat_args(self, transport: str) -> list[str]:
        if transport == "tls":
            return [
                "-b",
                self.config["KAFKA_URL"].removeprefix("kafka+ssl://"),
                "-X",
                "security.protocol=ssl",
                "-X",
                f"ssl.ca.location={self.files['ca']}",
                "-X",
                f"ssl.certificate.location={self.files['cert']}",
                "-X",
                f"ssl.key.location={self.files['key']}",
            ]
        return [
            "-b",
            self.config["KAFKA_SASL_BOOTSTRAP_SERVERS"],
            "-X",
            "security.protocol=sasl_plaintext",
            "-X",
            f"sasl.mechanisms={self.config['KAFKA_SASL_MECHANISM']}",
            "-X",
            f"sasl.username={self.username}",
            "-X",
            f"sasl.password={self.password}",
        ]

    def kafkajs_spec(self, transport: str) -> dict[str, Any]:
        if transport == "tls":
            return {
                "brokers": [self.config["KAFKA_URL"].removeprefix("kafka+ssl://")],
                "ssl": {
                    "ca": [self.config["KAFKA_TRUSTED_CERT"]],
                    "cert": self.config["KAFKA_CLIENT_CERT"],
                    "key": self.config["KAFKA_CLIENT_CERT_KEY"],
                },
            }
        mechanism = self.config["KAFKA_SASL_MECHANISM"].lower()
        return {
            "brokers": [self.config["KAFKA_SASL_BOOTSTRAP_SERVERS"]],
            "sasl": {"mechanism": mechanism, "username": self.username, "password": self.password},
        }


def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    require(path is not None, "kcat (Debian package kafkacat) is not installed")
    assert path is not None
    return path


def run_kafkajs(spec: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require(
        (NODE_MODULES / "kafkajs").is_dir(),
        "kafkajs is not installed under .venv/node (scripts/bootstrap.sh)",
    )
    assert node is not None
    script = Path(__file__).with_name("kafkajs_probe.js")
    proc = subprocess.run(
        [node, str(script), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"kafkajs printed nothing: {proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result
