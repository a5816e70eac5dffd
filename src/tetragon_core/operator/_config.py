"""``tetragon-operator serve``'s flags: Tetragon's operator's names, from the command line and from
``--config-dir`` (a file per flag, as the chart's operator ConfigMap renders them; a file wins
over the command line, as the agent's drop-in directory does)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from typing import Final

from tetragon_core.exceptions import ConfigError

__all__ = ["OperatorConfig", "parse_operator_args"]

_BOOLS: Final = {"true": True, "false": False, "1": True, "0": False}


@dataclass
class OperatorConfig:
    """What the operator does."""

    kube_config: str = ""
    skip_crd_creation: bool = False
    skip_pod_info_crd: bool = False
    skip_tracing_policy_crd: bool = False
    force_update_crds: bool = False
    enable_pod_info: bool = False
    metrics_bind_address: str = ":2113"
    health_probe_bind_address: str = ":8081"


_HELP: Final = {
    "kube_config": "kubeconfig to use; unset, the pod's service account",
    "skip_crd_creation": "create or update no CRD (the chart's crds.installMethod is not operator)",
    "skip_pod_info_crd": "leave the PodInfo CRD alone",
    "skip_tracing_policy_crd": "leave the TracingPolicy and TracingPolicyNamespaced CRDs alone",
    "force_update_crds": "replace the cluster's CRDs even when their schema version is newer",
    "enable_pod_info": "keep a PodInfo resource for every pod of the cluster",
    "metrics_bind_address": "host:port of the Prometheus /metrics endpoint; '' or 0 disables it",
    "health_probe_bind_address": "host:port of /healthz and /readyz; '' or 0 disables it",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(flag: str, text: str) -> bool:
    value = _BOOLS.get(text.strip().lower())
    if value is None:
        raise ConfigError(f"{flag}: {text.strip()!r} is not true or false")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tetragon-operator", description="tetragon-core's operator")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="install the CRDs and run the controllers")
    serve.add_argument("--config-dir", default="", help="a directory of files, one per flag")
    defaults = OperatorConfig()
    for f in fields(OperatorConfig):
        if isinstance(getattr(defaults, f.name), bool):
            serve.add_argument(_flag(f.name), nargs="?", const="true", default=None, help=_HELP[f.name])
        else:
            serve.add_argument(_flag(f.name), default=None, help=_HELP[f.name])
    return p


def parse_operator_args(argv: list[str]) -> OperatorConfig:
    """The configuration from ``argv`` (after the program name) and its ``--config-dir``."""
    ns = _parser().parse_args(argv)
    given: dict[str, str] = {
        f.name: v for f in fields(OperatorConfig) if (v := getattr(ns, f.name)) is not None
    }
    if ns.config_dir:
        if not os.path.isdir(ns.config_dir):
            raise ConfigError(f"--config-dir: {ns.config_dir} is not a directory")
        names = {_flag(f.name)[2:]: f.name for f in fields(OperatorConfig)}
        for entry in sorted(os.listdir(ns.config_dir)):
            path = os.path.join(ns.config_dir, entry)
            if entry.startswith(".") or not os.path.isfile(path):
                continue  # a ConfigMap volume's ..data links
            if entry not in names:
                raise ConfigError(f"--config-dir: {entry} is not a flag of tetragon-operator serve")
            with open(path, encoding="utf-8") as fh:
                given[names[entry]] = fh.read().strip()
    cfg = OperatorConfig()
    for f in fields(OperatorConfig):
        if f.name in given:
            value = given[f.name]
            if isinstance(getattr(cfg, f.name), bool):
                setattr(cfg, f.name, _parse_bool(_flag(f.name), value))
            else:
                setattr(cfg, f.name, value)
    return cfg
