"""The node's effective settings: flags > environment > ``<home>/config.toml`` > defaults.

Every setting has a dotted name (``listen``, ``log.level``,
``gossip.degree``, ``defence.ban_s``…), a default (the network ones are
the documented defaults of ``net/config.py``), and a type taken from its
default. ``effective()`` says, for each, its value and where it came from,
which ``trustmesh config show`` prints. A typo or a wrong type in the file
or the environment is a ConfigError naming it, never silently ignored.

Environment: ``TRUSTMESH_<NAME>`` with dots as underscores, upper case
(``TRUSTMESH_LOG_LEVEL=debug``, ``TRUSTMESH_GOSSIP_DEGREE=3``); lists are
comma-separated. The older ``TRUSTMESH_NET_<SECTION>_<FIELD>`` names work too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from trustmesh.errors import ConfigError
from trustmesh.net.config import DEFAULT_LISTEN, NetConfig

FILE = "config.toml"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "human", "json")
_NET_SECTIONS = ("gossip", "sync", "defence", "discovery", "deals", "nat")
_CHOICES = {"log.level": LOG_LEVELS, "log.format": LOG_FORMATS,
            "deals.auto_accept": ("ask", "accept", "always", "never")}


def defaults() -> dict[str, Any]:
    """Every setting's default, by dotted name."""
    net = NetConfig()
    out: dict[str, Any] = {"listen": [DEFAULT_LISTEN], "bootstrap": [], "mdns": False, "api_tcp": "", "metrics_tcp": "",
                           "log.level": "info", "log.format": "auto", "log.levels": {}}
    for section in _NET_SECTIONS:
        group = getattr(net, section)
        for f in fields(group):
            if section == "discovery" and f.name in ("bootstrap", "mdns"):
                continue                          # top-level settings above
            out[f"{section}.{f.name}"] = getattr(group, f.name)
    out["query_timeout_s"] = net.query_timeout_s
    return out


@dataclass(frozen=True)
class Setting:
    """One effective value and where it came from ("default", "file", "env NAME", "flag")."""

    value: Any
    source: str


def effective(home: Path, environ: dict[str, str] | None = None,
              flags: dict[str, Any] | None = None) -> dict[str, Setting]:
    """The settings in force for ``home``, with their sources."""
    environ = dict(os.environ if environ is None else environ)
    found = {name: Setting(value, "default") for name, value in defaults().items()}
    path = home / FILE
    if path.exists():
        for name, value in _flatten(_read(path)).items():
            found[name] = Setting(_typed(name, value, found, f"{FILE}: {name}"), "file")
    for var, text in sorted(environ.items()):
        name = _env_name(var, found)
        if name is not None:
            found[name] = Setting(_from_text(name, text, found, var), f"env {var}")
    for name, value in (flags or {}).items():
        if value not in (None, (), [], False) or name not in found:
            found[name] = Setting(_typed(name, value, found, f"--{name}"), "flag")
    return found


def net_config(settings: dict[str, Setting]) -> NetConfig:
    """The NetConfig the settings describe."""
    net = NetConfig()
    values = {name: s.value for name, s in settings.items()}
    for section in _NET_SECTIONS:
        group = getattr(net, section)
        changes = {f.name: values[f"{section}.{f.name}"] for f in fields(group)
                   if f"{section}.{f.name}" in values}
        if section == "discovery":
            changes.update(bootstrap=tuple(values["bootstrap"]), mdns=values["mdns"])
        net = replace(net, **{section: replace(group, **{k: tuple(v) if isinstance(v, list) else v
                                                         for k, v in changes.items()})})
    return replace(net, listen=tuple(values["listen"]), query_timeout_s=values["query_timeout_s"])


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "log.levels":
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _typed(name: str, value: Any, known: dict[str, Setting], where: str) -> Any:
    if name not in known:
        raise ConfigError(f"{where}: no such setting (see trustmesh config show)")
    default = defaults()[name]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        value = list(value) if isinstance(value, (list, tuple)) else value
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(isinstance(v, str) and v.lower() in LOG_LEVELS
                                             for v in value.values())
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where}: {value!r} is not a valid {type(default).__name__}")
    choices = _CHOICES.get(name)
    if choices and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value


def _from_text(name: str, text: str, known: dict[str, Setting], var: str) -> Any:
    default = defaults()[name]
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError
            value: Any = text.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, float):
            value = float(text)
        elif isinstance(default, int):
            value = int(text)
        elif isinstance(default, (list, tuple)):
            value = [x.strip() for x in text.split(",") if x.strip()]
        elif isinstance(default, dict):
            value = dict(part.split("=", 1) for part in text.split(",") if part)
        else:
            value = text
    except ValueError:
        raise ConfigError(f"{var}: {text!r} is not a valid {type(default).__name__}") from None
    return _typed(name, value, known, var)


def _env_name(var: str, known: dict[str, Setting]) -> str | None:
    """The setting an environment variable names, None if it is not a setting variable."""
    if not var.startswith("TRUSTMESH_") or var in ("TRUSTMESH_HOME", "TRUSTMESH_PASSPHRASE_FILE",
                                                   "TRUSTMESH_DEBUG", "TRUSTMESH_TEST_CLOCK_OFFSET_MS",
                                                   "TRUSTMESH_TEST_FORK", "TRUSTMESH_PROFILE",
                                                   "TRUSTMESH_MEMTRACE", "TRUSTMESH_MEMTRACE_EVERY"):
        return None
    rest = var[len("TRUSTMESH_"):].lower()
    if rest.startswith("net_"):
        rest = rest[4:]
    for name in known:
        if name.replace(".", "_") == rest:
            return name
    raise ConfigError(f"{var}: no such setting (see trustmesh config show)")
