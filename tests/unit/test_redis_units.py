"""The Key-Value Store's pieces without a server: plans, URLs, files, the rendered configuration."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from common.ca import CertFiles
from common.errors import PaasError
from paas.addons.kvs.instance import Instance, InstanceFiles, password_hash, render_conf
from paas.addons.kvs.plans import PLANS, POLICIES, check_policy, check_timeout


def instance(plan: str = "mini", password: str = "p-secret/with:odd@chars") -> Instance:
    return Instance(
        "redis-round-12345", "shop", plan, 40001, 40002, password, "admin-secret", "2025-01-01 00:00 UTC"
    )


def conf_of(tmp_path: Path, inst: Instance) -> dict[str, str]:
    files = InstanceFiles(tmp_path, inst.name)
    tls = CertFiles(tmp_path / "c.pem", tmp_path / "c.key")
    settings: dict[str, str] = {}
    for line in render_conf(inst, files, tls, tmp_path / "ca.pem").splitlines():
        if not line or line.startswith("#"):
            continue
        words = line.split()
        settings[" ".join(words[:2]) if words[0] == "user" else words[0]] = line  # "user default"
    return settings


def test_plans_follow_herokus_table() -> None:
    assert (PLANS["mini"].memory_mb, PLANS["mini"].connections) == (25, 20)
    assert (PLANS["premium-0"].memory_mb, PLANS["premium-0"].connections) == (50, 40)
    assert (PLANS["premium-5"].memory_mb, PLANS["premium-5"].connections) == (1024, 1000)
    assert PLANS["mini"].title == "Mini" and PLANS["premium-10"].title == "Premium 10"
    assert next(iter(POLICIES)) == "noeviction" and len(POLICIES) == 8


def test_urls_are_herokus_shape_and_quote_the_password() -> None:
    i = instance()
    quoted = "p-secret%2Fwith%3Aodd%40chars"
    assert i.tls_url == f"rediss://:{quoted}@127.0.0.1:40002"
    assert i.plain_url == f"redis://:{quoted}@127.0.0.1:40001"
    assert i.config_vars() == {"REDIS_URL": i.tls_url, "REDIS_TLS_URL": i.tls_url}
    assert Instance.from_json({**i.__dict__, "from_a_newer_version": 1}) == i


def test_configuration_holds_the_plan_limits_loopback_and_only_password_hashes(tmp_path: Path) -> None:
    i = instance("premium-0")
    conf = conf_of(tmp_path, i)
    assert conf["bind"] == "bind 127.0.0.1"
    assert conf["maxmemory"] == "maxmemory 50mb" and conf["maxclients"] == "maxclients 40"
    assert conf["maxmemory-policy"] == "maxmemory-policy noeviction" and conf["timeout"] == "timeout 300"
    assert conf["port"] == "port 40001" and conf["tls-port"] == "tls-port 40002"
    assert conf["appendonly"] == "appendonly yes"
    app_user = conf["user default"]
    assert f"#{password_hash(i.password)}" in app_user
    for command in ("-config", "-acl", "-shutdown", "-debug", "-replicaof"):
        assert command in app_user.split()
    assert f"#{password_hash(i.admin_password)}" in conf["user paas"]
    text = "\n".join(conf.values())
    assert i.password not in text and i.admin_password not in text


def test_files_are_private_and_names_stay_inside_the_directory(tmp_path: Path) -> None:
    files = InstanceFiles(tmp_path / "redis", "redis-round-12345")
    files.save(instance())
    assert stat.S_IMODE((tmp_path / "redis").stat().st_mode) == 0o700
    assert stat.S_IMODE(files.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.state_path.stat().st_mode) == 0o600
    assert files.load() == instance()
    files.remove()
    files.remove()  # idempotent
    assert files.load() is None
    for bad in ("../etc", "Redis", "a", "x/y"):
        with pytest.raises(ValueError):
            InstanceFiles(tmp_path, bad)


def test_policy_and_timeout_checks_name_what_is_allowed() -> None:
    assert check_policy("allkeys-lru") == "allkeys-lru"
    with pytest.raises(PaasError, match=r"Invalid policy 'lru'\. Policies: noeviction, allkeys-lfu") as bad:
        check_policy("lru")
    assert bad.value.status == 422
    assert check_timeout(0) == 0
    with pytest.raises(PaasError, match="from 0 \\(never\\) to 2147483647, not -1"):
        check_timeout(-1)
