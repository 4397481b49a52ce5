"""The files a user hands afkit (plan files, afkit.toml, profiles): read with a size limit, plan files written atomically.

A path can name anything: ``/dev/zero`` or a multi-gigabyte log must be refused after a bounded read, not read until
memory runs out. Every user-given file goes through :func:`read_text_limited`, so the limit and the wording are the
same everywhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from toolkit.core.planfile import MAX_PLAN_FILE_BYTES, LoadedPlan, decode_plan_text, plan_file_text
from toolkit.core.planning import Plan
from toolkit.errors import BadInput

MAX_INPUT_FILE_BYTES = 16 * 1024 * 1024  # afkit.toml, profiles; plan files have their own, larger bound


def read_text_limited(path: Path, what: str, limit: int = MAX_INPUT_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``; a missing, unreadable, oversized or non-text file is :class:`BadInput`.

    ``what`` names the file in the message ("plan file", "afkit.toml" …). At most ``limit + 1`` bytes are read, so a
    device or an endless pipe costs a bounded amount of memory.
    """
    try:
        if path.is_dir():
            raise BadInput(f"{what} {path} is a directory, not a file")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise BadInput(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise BadInput(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise BadInput(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB: not a file afkit wrote or reads")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def read_plan(path: Path) -> LoadedPlan:
    """Read, validate and fingerprint-check a plan file; bounded in bytes here, in JSON values by the decoder."""
    return decode_plan_text(read_text_limited(path, "plan file", MAX_PLAN_FILE_BYTES), str(path))


def load_plan(path: Path) -> Plan:
    """The validated plan of a plan file, for showing it; a launch uses :func:`read_plan` to learn if it was edited."""
    return read_plan(path).plan


def save_plan(path: Path, plan: Plan) -> None:
    """Write atomically: a plan file is either complete or absent, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".plan.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plan_file_text(plan))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
