"""The ``tetragon`` agent's command line, with Tetragon's flag names and syntax.

``--flag value`` and ``--flag=value`` both work; a bool flag given bare means true
(``--debug``), and takes an explicit value with ``--debug=false``. A list flag may be repeated,
each occurrence adding comma-separated items, as Go's string-slice flags do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..exceptions import ConfigError
from .agent_config import AgentConfig
from .docs import PROGRAM, SYNOPSIS, USAGE, generate_docs
from .flags import FLAGS, FLAGS_BY_NAME, Flag, FlagKind
from .loader import ConfigRoots, load_config
from .validation import convert
from .values import RawValue

_METAVARS = {
    FlagKind.BOOL: "bool",
    FlagKind.INT: "int",
    FlagKind.STR: "string",
    FlagKind.DURATION: "duration",
    FlagKind.SECONDS: "seconds",
    FlagKind.SIZE: "size",
    FlagKind.STRING_LIST: "strings",
}


class _AgentArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that reports usage errors as ConfigError instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"command line: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every daemon flag; options absent from argv are left unset."""
    parser = _AgentArgumentParser(
        prog=PROGRAM,
        usage=USAGE,
        description=SYNOPSIS,
        add_help=False,
        allow_abbrev=False,
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag in FLAGS:
        help_text = _help_text(flag).replace("%", "%%")
        if flag.name == "help":
            parser.add_argument("-h", "--help", action="help", help=help_text)
        elif flag.kind is FlagKind.BOOL:
            parser.add_argument(
                f"--{flag.name}", dest=flag.attr, nargs="?", const="true", metavar="bool", help=help_text
            )
        elif flag.kind is FlagKind.STRING_LIST:
            parser.add_argument(
                f"--{flag.name}", dest=flag.attr, action="append", metavar="strings", help=help_text
            )
        else:
            parser.add_argument(
                f"--{flag.name}", dest=flag.attr, metavar=_METAVARS[flag.kind], help=help_text
            )
    return parser


def parse_command_line(argv: Sequence[str]) -> dict[str, RawValue]:
    """Parse ``argv`` into flag name -> raw value, for the flags it sets.

    ``--help`` prints the flag reference and raises ``SystemExit(0)``; usage errors (an unknown
    flag, a missing value) raise ConfigError.
    """
    namespace = build_parser().parse_args(list(argv))
    raw: dict[str, RawValue] = {}
    for attr, value in vars(namespace).items():
        name = attr.replace("_", "-")
        # Repeated list flags accumulate, like pflag's StringSlice.
        raw[name] = ",".join(value) if isinstance(value, list) else str(value)
    return raw


def parse_agent_args(argv: list[str], roots: ConfigRoots | None = None) -> AgentConfig:
    """Parse the agent's command line and load the layered configuration it completes.

    ``--help`` prints every flag with its usage and default, and ``--generate-docs`` prints the
    YAML flag reference to stdout; both then raise ``SystemExit(0)``. Any unusable value,
    unknown option or unsupported flag raises ``tetragon_core.exceptions.ConfigError``.
    """
    command_line = parse_command_line(argv)
    docs_flag = FLAGS_BY_NAME["generate-docs"]
    if "generate-docs" in command_line and convert(docs_flag, command_line["generate-docs"], "command line"):
        sys.stdout.write(generate_docs())
        sys.stdout.flush()
        raise SystemExit(0)
    return load_config(command_line, roots)


def _help_text(flag: Flag) -> str:
    if not flag.default:
        return flag.usage
    if flag.kind is FlagKind.STR:
        return f'{flag.usage} (default "{flag.default}")'
    return f"{flag.usage} (default {flag.default})"
