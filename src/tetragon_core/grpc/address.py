"""gRPC server addresses as Tetragon writes them: ``host:port`` or ``unix:///path``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from tetragon_core.exceptions import ConfigError

RUN_DIR = "/var/run/tetragon"
INFO_FILE = "tetragon-info.json"
DEFAULT_ADDRESS = "localhost:54321"


@dataclass(frozen=True)
class Address:
    """A parsed address: a unix socket ``path``, or ``host`` and ``port``."""

    text: str
    host: str = ""
    port: int = 0
    path: str = ""


def parse_address(text: str, flag: str = "--server-address") -> Address:
    """Parse ``host:port``, ``:port``, ``[v6]:port`` or ``unix://PATH``; errors name ``flag``."""
    if text.startswith("unix://"):
        path = text[len("unix://") :]
        if not path.startswith("/"):
            raise ConfigError(f"{flag}: unix socket path in {text!r} must be absolute")
        return Address(text, path=path)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{flag}: {text!r} is neither host:port nor unix:///path")
    return Address(text, host=host.strip("[]") or "0.0.0.0", port=int(port))


def write_info(address: str, run_dir: str = RUN_DIR) -> str:
    """Record the active address where tetra looks for it; returns the file's path."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, INFO_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"server_address": address}, f)
    os.replace(tmp, path)
    return path


def resolve_client_address(flag_value: str, run_dir: str = RUN_DIR) -> str:
    """tetra's rule: the flag, else tetragon-info.json's server_address, else localhost:54321."""
    if flag_value:
        return flag_value
    try:
        with open(os.path.join(run_dir, INFO_FILE)) as f:
            found = json.load(f).get("server_address", "")
        if isinstance(found, str) and found:
            return found
    except (OSError, ValueError):
        pass
    return DEFAULT_ADDRESS
