"""Writes the published JSON Schema of plan files, generated from the reader's own structs.

    python -m toolkit.plan_schema            # docs/plan-file.schema.json of the source tree
    python -m toolkit.plan_schema PATH       # anywhere else

A unit test fails when the committed docs/plan-file.schema.json differs from what this writes, so the published
schema cannot drift from the reader.
"""

from __future__ import annotations

import sys
from pathlib import Path

from toolkit.core.planfile import plan_file_schema_text
from toolkit.errors import ExitCode

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "plan-file.schema.json"


def write_schema(path: Path = PUBLISHED) -> Path:
    path.write_text(plan_file_schema_text(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python -m toolkit.plan_schema [PATH]", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    try:
        written = write_schema(Path(args[0]) if args else PUBLISHED)
    except OSError as exc:
        print(f"cannot write the plan file schema: {exc}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    print(f"wrote {written}")
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
