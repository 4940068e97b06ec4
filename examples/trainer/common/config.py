"""Reading `trainer.toml`: both trainers' settings are typed dataclasses filled from its tables.

Every value is typed and checked before a model is loaded, so a bad value stops the run at once with a
message naming the file, the table and the key, instead of failing an hour into training.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

# The repository root holds trainer.toml; TRAINER_CONFIG points elsewhere (tests, experiments).
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "trainer.toml"


class SettingsError(ValueError):
    """The hyperparameter file is missing, unreadable or holds a bad value."""


def read(path: Path | None) -> tuple[Path, dict]:
    """The file's path (`path`, else $TRAINER_CONFIG, else the repository's) and its tables."""
    path = Path(path or os.environ.get("TRAINER_CONFIG") or DEFAULT_CONFIG)
    try:
        return path, tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"hyperparameter file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"hyperparameter file {path} is not valid TOML: {e}") from None


def build(start, values: dict, where: str, str_or_list: tuple[str, ...] = ()):
    """`start` (a dataclass instance) with `values` applied, each checked against its default's type.

    Keys in `str_or_list` take a string or a list of strings; a tuple default takes a non-empty list of
    strings. A nested dataclass field cannot be set this way.
    """
    fields = {f.name for f in dataclasses.fields(start)
              if not dataclasses.is_dataclass(getattr(start, f.name))}  # fmt: skip
    changes = {}
    for key, value in values.items():
        if key not in fields:
            raise SettingsError(f"{where}: unknown key `{key}`")
        changes[key] = _coerce(key, value, getattr(start, key), where, key in str_or_list)
    return dataclasses.replace(start, **changes)


def _coerce(key: str, value, default, where: str, str_or_list: bool):
    # TOML tells integers from floats; accept an integer where a float is expected (lr = 1).
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif str_or_list:
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    else:
        ok = isinstance(value, str)
    if not ok:
        shown = list(default) if isinstance(default, tuple) else default
        raise SettingsError(f"{where}: `{key}` must be like {shown!r}, got {value!r}")
    return value


def check(checks: list[tuple[bool, str]], where) -> None:
    """Raises on the first (ok, message) that is not ok, naming `where`."""
    for ok, message in checks:
        if not ok:
            raise SettingsError(f"{where}: {message}")
