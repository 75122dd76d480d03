"""What the `safety-bot` command's modules share: loading the config (see cli.py)."""

from __future__ import annotations

import sys

from .config import Config, DataFileError, load_config


def _load(path: str, *, library: list | None = None) -> Config:
    try:
        config = load_config(path)
        from .playbooks import load_library

        lib = load_library(config.path(config.playbooks))
        if library is not None:
            library.append(lib)
        return config
    except DataFileError as exc:
        print(f"safety-bot: the configuration is not valid:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
