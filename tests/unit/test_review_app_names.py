"""Review app names (`<pipeline>-<branch>`: sanitised, at most 30 characters, collision-safe and
stable per branch) and app.json as the review environment sees it."""

from __future__ import annotations

import pytest

from common.errors import PaasError
from paas.builds.appsetup import for_environment, parse_manifest
from paas.builds.reviewapps import branch_of, review_app_name
from paas.control import APP_NAME


def free(_name: str) -> bool:
    return False


def test_a_short_branch_keeps_its_plain_name() -> None:
    assert review_app_name("shop", "feature/Login-Page", free) == "shop-feature-login-page"
    assert review_app_name("shop", "fix__123..x", free) == "shop-fix-123-x"


def test_long_odd_or_taken_names_are_shortened_with_a_stable_hash() -> None:
    long = review_app_name("shop", "feature/a-very-long-branch-name-indeed", free)
    assert len(long) <= 30 and APP_NAME.fullmatch(long) and long.startswith("shop-feature-a-very-")
    assert long == review_app_name("shop", "feature/a-very-long-branch-name-indeed", free)  # stable
    symbols = review_app_name("shop", "___", free)
    assert APP_NAME.fullmatch(symbols) and symbols.startswith("shop-")
    # two branches that sanitise alike get two names
    first = review_app_name("shop", "feature/a", free)
    second = review_app_name("shop", "feature-a", lambda name: name == first)
    assert first == "shop-feature-a" and second != first and second.startswith("shop-feature-a-")
    pipeline = "p" * 60  # pipeline names may be longer than app names
    assert len(review_app_name(pipeline, "x", free)) <= 30


def test_when_every_name_is_taken_the_error_says_so() -> None:
    with pytest.raises(PaasError, match="No free app name"):
        review_app_name("shop", "x", lambda _name: True)


def test_only_branches_make_review_apps() -> None:
    assert branch_of("refs/heads/feature/x") == "feature/x"
    for ref in ("refs/tags/v1", "refs/heads/", "HEAD"):
        with pytest.raises(PaasError):
            branch_of(ref)


def test_the_review_environment_overrides_the_base() -> None:
    base = {
        "env": {"A": "base", "B": "base"},
        "addons": ["heroku-kafka"],
        "formation": {"web": {"quantity": 2}, "worker": {"quantity": 1}},
        "scripts": {"postdeploy": "seed", "pr-predestroy": "bye"},
        "environments": {
            "review": {
                "env": {"B": "review"},
                "addons": ["heroku-postgresql"],
                "formation": {"web": {"quantity": 1}},
                "scripts": {"postdeploy": "seed --small"},
            },
            "test": {"env": {"A": "test"}},
        },
    }
    manifest = parse_manifest(for_environment(base, "review"), {})
    assert manifest.env == {"A": "base", "B": "review"}
    assert manifest.addons == [("heroku-postgresql", None)]  # a list is replaced, not merged
    assert {(f.type, f.quantity) for f in manifest.formation} == {("web", 1), ("worker", 1)}
    assert (manifest.postdeploy, manifest.predestroy) == ("seed --small", "bye")
    assert parse_manifest(for_environment(base, "production"), {}).env == {"A": "base", "B": "base"}


def test_a_bad_environment_or_script_is_a_precise_error() -> None:
    with pytest.raises(PaasError, match=r"environments\.review must be an object"):
        for_environment({"environments": {"review": []}}, "review")
    with pytest.raises(PaasError, match="environments must be an object"):
        for_environment({"environments": "review"}, "review")
    with pytest.raises(PaasError, match=r"scripts\.pr-predestroy must be a command string"):
        parse_manifest({"scripts": {"pr-predestroy": 3}}, {})
