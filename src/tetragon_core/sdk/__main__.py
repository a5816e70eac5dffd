"""``python -m tetragon_core.sdk include``: print the directory of the SDK's BPF headers."""

from __future__ import annotations

import sys
from pathlib import Path

_USAGE = "usage: python -m tetragon_core.sdk include    (the BPF headers' directory, for clang -I)"


def main(argv: list[str]) -> int:
    if argv != ["include"]:
        print(_USAGE, file=sys.stderr)
        return 2
    include = Path(__file__).resolve().parent / "include"
    if not (include / "tg_sdk.h").is_file():
        print(f"tetragon_core.sdk: {include} holds no tg_sdk.h (an incomplete install?)", file=sys.stderr)
        return 1
    print(include)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
