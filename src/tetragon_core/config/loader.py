"""Layered loading of daemon settings, following Tetragon's configuration precedence.

Later layers override earlier ones:

1. drop-in directories ``/usr/lib/tetragon/tetragon.conf.d`` then
   ``/usr/local/lib/tetragon/tetragon.conf.d``;
2. ``/etc/tetragon/tetragon.yaml`` (a mapping of flag name to value);
3. drop-in directory ``/etc/tetragon/tetragon.conf.d``;
4. the drop-in directory named by ``config-dir`` (from the command line, else from a layer above);
5. command-line flags.

In a drop-in directory each file name is a flag name and the stripped file content its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..exceptions import ConfigError
from .agent_config import COMMAND_LINE_SOURCE, AgentConfig
from .flags import FLAGS_BY_NAME, Flag
from .validation import check_supported, convert, flag_error
from .values import RawValue, Value

_YAML_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class ConfigRoots:
    """Where the configuration layers live; override them in tests to stay out of ``/etc``."""

    usr_lib_dropin: Path = Path("/usr/lib/tetragon/tetragon.conf.d")
    usr_local_lib_dropin: Path = Path("/usr/local/lib/tetragon/tetragon.conf.d")
    etc_yaml: Path = Path("/etc/tetragon/tetragon.yaml")
    etc_dropin: Path = Path("/etc/tetragon/tetragon.conf.d")

    @classmethod
    def under(cls, root: Path) -> ConfigRoots:
        """The standard layout re-rooted under ``root`` (``root/etc/tetragon/tetragon.yaml`` ...)."""
        default = cls()
        return cls(
            usr_lib_dropin=root / default.usr_lib_dropin.relative_to("/"),
            usr_local_lib_dropin=root / default.usr_local_lib_dropin.relative_to("/"),
            etc_yaml=root / default.etc_yaml.relative_to("/"),
            etc_dropin=root / default.etc_dropin.relative_to("/"),
        )


@dataclass(frozen=True, slots=True)
class Setting:
    """A flag value as read, before conversion, and the source that set it."""

    raw: RawValue
    source: str


def read_dropin_dir(directory: Path, *, required: bool = False) -> dict[str, Setting]:
    """Read a drop-in directory: one file per flag, named after it, read in sorted order.

    Hidden files and subdirectories are skipped; hidden entries cover the ``..data`` links of a
    Kubernetes ConfigMap volume. A missing directory yields nothing unless ``required``.
    """
    if not directory.exists():
        if required:
            raise ConfigError(f"{directory}: configuration directory does not exist")
        return {}
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    settings: dict[str, Setting] = {}
    for entry in sorted(directory.iterdir(), key=lambda path: path.name):
        if entry.name.startswith(".") or entry.is_dir():
            continue
        _known_flag(entry.name, str(entry))
        try:
            content = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{entry}: cannot read configuration file: {exc}") from None
        settings[entry.name] = Setting(content.strip(), str(entry))
    return settings


def read_yaml_file(path: Path) -> dict[str, Setting]:
    """Read a YAML mapping of flag name to value; a missing or empty file yields nothing.

    Values are taken as the text written in the file rather than YAML-typed, so
    ``export-file-perm: 0600`` stays ``"0600"`` instead of becoming the integer 384.
    """
    if not path.exists():
        return {}
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping of flag names to values")
    settings: dict[str, Setting] = {}
    for key_node, value_node in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{path}: configuration keys must be flag names")
        flag = _known_flag(str(key_node.value), str(path))
        settings[flag.name] = Setting(_yaml_raw(flag, value_node, path), str(path))
    return settings


def load_settings(
    command_line: Mapping[str, RawValue] | None = None, roots: ConfigRoots | None = None
) -> dict[str, Setting]:
    """Merge every configuration layer and the command line; returns flag name -> Setting."""
    roots = roots or ConfigRoots()
    settings: dict[str, Setting] = {}
    settings.update(read_dropin_dir(roots.usr_lib_dropin))
    settings.update(read_dropin_dir(roots.usr_local_lib_dropin))
    settings.update(read_yaml_file(roots.etc_yaml))
    settings.update(read_dropin_dir(roots.etc_dropin))

    cli = {name: Setting(raw, COMMAND_LINE_SOURCE) for name, raw in (command_line or {}).items()}
    for name in cli:
        _known_flag(name, COMMAND_LINE_SOURCE)
    config_dir = cli.get("config-dir") or settings.get("config-dir")
    if config_dir is not None and config_dir.raw:
        flag = FLAGS_BY_NAME["config-dir"]
        if not isinstance(config_dir.raw, str):
            raise flag_error(flag, "expected a directory path, not a list", config_dir.source)
        directory = Path(config_dir.raw)
        if not directory.is_dir():
            raise flag_error(flag, f"{directory} is not a directory", config_dir.source)
        settings.update(read_dropin_dir(directory, required=True))

    settings.update(cli)
    return settings


def load_config(
    command_line: Mapping[str, RawValue] | None = None, roots: ConfigRoots | None = None
) -> AgentConfig:
    """Load, convert and validate the configuration; raises ConfigError listing every problem.

    ``command_line`` maps flag names to their raw command-line text. Command-line-only flags
    (``help``, ``generate-docs``) are ignored here; :func:`parse_agent_args` acts on them.
    """
    settings = load_settings(command_line, roots)
    values: dict[str, Value] = {}
    sources: dict[str, str] = {}
    errors: list[str] = []
    for name, setting in settings.items():
        flag = FLAGS_BY_NAME[name]
        if flag.cli_only:
            continue
        try:
            value = convert(flag, setting.raw, setting.source)
            check_supported(flag, value, setting.source)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        values[name] = value
        sources[name] = setting.source
    if errors:
        raise ConfigError("\n".join(errors))
    return AgentConfig.from_values(values, sources)


def _known_flag(name: str, source: str) -> Flag:
    flag = FLAGS_BY_NAME.get(name)
    if flag is None:
        raise ConfigError(f"{source}: unknown configuration option {name!r}")
    if flag.cli_only and source != COMMAND_LINE_SOURCE:
        raise ConfigError(f"{source}: option {name!r} is only valid on the command line")
    return flag


def _yaml_raw(flag: Flag, node: yaml.Node, path: Path) -> RawValue:
    if isinstance(node, yaml.ScalarNode):
        return "" if node.tag == _YAML_NULL_TAG else str(node.value)
    if isinstance(node, yaml.SequenceNode) and all(isinstance(item, yaml.ScalarNode) for item in node.value):
        return tuple(str(item.value) for item in node.value)
    raise flag_error(flag, "expected a single value or a list of values", str(path))
