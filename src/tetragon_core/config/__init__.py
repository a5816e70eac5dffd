"""The ``tetragon`` agent's configuration: flags, layered config files and the command line.

Entry points:

* :func:`parse_agent_args` - command line + configuration layers -> :class:`AgentConfig`;
* :func:`load_config` - the same from an already-parsed mapping of flag name -> raw value;
* :class:`ConfigRoots` - where the configuration layers live (override in tests);
* :data:`FLAGS` - the table of every daemon flag; :data:`UNSUPPORTED` - flags not built yet.
"""

from .agent_config import COMMAND_LINE_SOURCE, DEFAULT_SOURCE, AgentConfig
from .cli import build_parser, parse_agent_args, parse_command_line
from .docs import generate_docs
from .flags import FLAGS, FLAGS_BY_NAME, Flag, FlagKind, get_flag
from .loader import ConfigRoots, load_config, load_settings
from .support import UNSUPPORTED
from .values import RawValue, Value

__all__ = [
    "COMMAND_LINE_SOURCE",
    "DEFAULT_SOURCE",
    "FLAGS",
    "FLAGS_BY_NAME",
    "UNSUPPORTED",
    "AgentConfig",
    "ConfigRoots",
    "Flag",
    "FlagKind",
    "RawValue",
    "Value",
    "build_parser",
    "generate_docs",
    "get_flag",
    "load_config",
    "load_settings",
    "parse_agent_args",
    "parse_command_line",
]
