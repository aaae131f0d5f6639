"""Names and values the control plane accepts: app names, config var names, config changes."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from common.errors import invalid

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
CONFIG_KEY = re.compile(r"^[A-Za-z0-9_]+$")
CONFIG_LIMIT = 32 * 1024
USER = "local@paas"

_ADJECTIVES = [
    "ancient",
    "autumn",
    "billowing",
    "bitter",
    "black",
    "blue",
    "bold",
    "broken",
    "cold",
    "cool",
    "crimson",
    "damp",
    "dark",
    "dawn",
    "delicate",
    "divine",
    "dry",
    "empty",
    "falling",
    "floral",
    "fragrant",
    "frosty",
    "gentle",
    "green",
    "hidden",
    "holy",
    "icy",
    "late",
    "lingering",
    "little",
    "lively",
    "long",
    "misty",
    "morning",
    "muddy",
    "nameless",
    "old",
    "patient",
    "polished",
    "proud",
    "purple",
    "quiet",
    "red",
    "restless",
    "rough",
    "shy",
    "silent",
    "small",
    "snowy",
    "solitary",
    "sparkling",
    "spring",
    "still",
    "summer",
    "sweet",
    "throbbing",
    "tight",
    "tiny",
    "twilight",
    "wandering",
    "weathered",
    "white",
    "wild",
    "winter",
    "wispy",
    "withered",
    "young",
]
_NOUNS = [
    "bird",
    "brook",
    "bush",
    "butterfly",
    "cherry",
    "cloud",
    "darkness",
    "dawn",
    "dew",
    "dream",
    "dust",
    "feather",
    "field",
    "fire",
    "firefly",
    "flower",
    "fog",
    "forest",
    "frog",
    "frost",
    "glade",
    "glitter",
    "grass",
    "haze",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "moon",
    "morning",
    "mountain",
    "night",
    "paper",
    "pine",
    "pond",
    "rain",
    "resonance",
    "river",
    "sea",
    "shadow",
    "shape",
    "silence",
    "sky",
    "smoke",
    "snow",
    "snowflake",
    "sound",
    "star",
    "sun",
    "sunset",
    "surf",
    "thunder",
    "tree",
    "violet",
    "voice",
    "water",
    "waterfall",
    "wave",
    "wildflower",
    "wind",
    "wood",
]


def random_app_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(10000, 99999)}"


def validate_app_name(name: str) -> None:
    if not APP_NAME.fullmatch(name):
        raise invalid(
            "Name must start with a letter, end with a letter or digit and can only contain "
            "lowercase letters, digits, and dashes (3 to 30 characters)."
        )


def validate_config_key(key: str, managed: bool = False) -> None:
    """`managed`: set by an add-on, which may use the reserved HEROKU_ prefix (HEROKU_POSTGRESQL_RED_URL)."""
    if not CONFIG_KEY.fullmatch(key):
        raise invalid(f"Invalid config var name {key!r}: only letters, digits and '_' are allowed.")
    if managed and not key.startswith("__"):
        return
    if key.startswith("HEROKU_") or key.startswith("__"):
        raise invalid(f"Invalid config var name {key!r}: names may not start with HEROKU_ or __.")


@dataclass(frozen=True)
class ConfigPatch:
    """A PATCH of config vars, validated: a value sets, None unsets (Heroku's semantics)."""

    sets: Mapping[str, str]
    unsets: tuple[str, ...]

    @classmethod
    def parse(cls, changes: object, managed: bool = False) -> ConfigPatch:
        if not isinstance(changes, dict) or not changes:
            raise invalid("Provide at least one config var to set or unset.")
        sets: dict[str, str] = {}
        unsets: list[str] = []
        for key, value in changes.items():
            validate_config_key(str(key), managed)
            if value is None:
                unsets.append(key)
            elif isinstance(value, bool):
                sets[key] = str(value).lower()
            elif isinstance(value, str | int | float):
                sets[key] = str(value)
            else:
                raise invalid(f"Config var {key} must be a string or null.")
        return cls(sets, tuple(unsets))

    @property
    def keys(self) -> list[str]:
        return sorted([*self.sets, *self.unsets])

    def apply(self, config: Mapping[str, str]) -> tuple[dict[str, str], str] | None:
        """(the new config, Heroku's description of the change), or None when nothing changes."""
        new = dict(config)
        set_keys = list(self.sets)
        unset_keys = [k for k in self.unsets if k in new]
        new.update(self.sets)
        for key in unset_keys:
            del new[key]
        size = sum(len(k.encode()) + len(v.encode()) for k, v in new.items())
        if size > CONFIG_LIMIT:
            raise invalid(f"Config vars are limited to 32 KB per app; this change makes {size} bytes.")
        if not set_keys and not unset_keys:
            return None
        parts = []
        if set_keys:
            parts.append(f"Set {', '.join(set_keys)} config vars")
        if unset_keys:
            parts.append(f"Remove {', '.join(unset_keys)} config vars")
        return new, " and ".join(parts)
