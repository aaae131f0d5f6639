"""Compile the router's hot path with mypyc (see common.accel).

python -m router.compile [build [-v]]   # a no-op when the build for these sources exists
python -m router.compile status
"""

from __future__ import annotations

import sys

from common import accel
from router import runs_compiled


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "build"
    if command == "build":
        fresh = (accel.build_dir() / accel.COMPLETE).is_file()
        if not fresh:
            print(
                "==> compiling the router's hot path with mypyc (once per source change, ~20 s)", flush=True
            )
        try:
            target = accel.build(verbose="-v" in args)
        except (RuntimeError, OSError) as exc:
            print(f"==> router stays interpreted (slower): {exc}", file=sys.stderr)
            return 1
        if not fresh:
            print(f"==> compiled router ready in {target}")
        return 0
    if command == "status":
        print(f"build for these sources: {accel.build_dir()}")
        print(
            f"exists: {(accel.build_dir() / accel.COMPLETE).is_file()}; wanted: {accel.wanted()}; in use: {runs_compiled()}"
        )
        return 0
    print("usage: python -m router.compile [build [-v] | status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
