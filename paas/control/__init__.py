"""The control plane: apps, config, releases, formation, domains (package layout below).

naming     app names, config var names, config changes (validation)
values     the typed values every service returns (JSON is made at the API edge)
store      the state database as the control plane reads and writes it
releases   the one release path (release phase, per-app serialisation, crash resolution)
plane      ControlPlane: apps, config reads, slugs, formation, domains, desired state
"""

from paas.control.naming import APP_NAME, USER, validate_app_name, validate_config_key
from paas.control.plane import ControlPlane, Urls
from paas.control.values import iso

__all__ = ["APP_NAME", "USER", "ControlPlane", "Urls", "iso", "validate_app_name", "validate_config_key"]
