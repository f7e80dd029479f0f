"""Prints `export UV_...=...` lines that give uv the package-index settings pip has on this machine.

uv reads no pip.conf: without this, `./scripts/install` and `./scripts/lock` would reach other
indexes than `pip install` does here (pip's config files, then PIP_* variables, as pip merges
them). Run by the system python3, whose pip is the one configured.
"""

from __future__ import annotations

import shlex
import sys

# pip option -> uv environment variable; list-valued pip options are space-separated in pip's config.
UV_VARIABLES = {
    "index-url": "UV_DEFAULT_INDEX",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
    "find-links": "UV_FIND_LINKS",
    "trusted-host": "UV_INSECURE_HOST",
    "cert": "SSL_CERT_FILE",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
}
# pip's sections by precedence: [global] < [install] < PIP_* variables.
SECTIONS = ("global", "install", ":env:")


def pip_settings() -> dict[str, str]:
    try:
        from pip._internal.configuration import Configuration
    except ImportError:  # no pip for this python: nothing configured for it either
        return {}
    configuration = Configuration(isolated=False)
    configuration.load()
    found: dict[tuple[str, str], str] = {}
    for key, value in configuration.items():
        section, _, option = key.partition(".")
        found[(section, option)] = str(value)
    settings: dict[str, str] = {}
    for section in SECTIONS:
        for (where, option), value in found.items():
            if where == section:
                settings[option] = value
    return settings


def main() -> int:
    settings = pip_settings()
    exports = {}
    for option, variable in UV_VARIABLES.items():
        if option in settings:
            exports[variable] = settings[option]
    if "UV_FIND_LINKS" in exports:  # uv takes a comma-separated list
        exports["UV_FIND_LINKS"] = ",".join(exports["UV_FIND_LINKS"].split())
    # pip picks the best version across every index it is given; uv's default takes the first
    # index that has the package. Same results as pip: search them all.
    exports["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    for variable, value in exports.items():
        print(f"export {variable}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
