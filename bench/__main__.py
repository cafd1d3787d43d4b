"""`python -m bench`: run every benchmark module, one after another; exit 1 if any fails."""

import importlib
import pkgutil
import sys

import bench

SKIP = {"common", "floor_app", "chaos"}  # chaos: `python -m bench.load --chaos`


def main() -> int:
    failed = []
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if module in SKIP or module.startswith("_"):
            continue
        print(f"== bench.{module}", flush=True)
        if not importlib.import_module(f"bench.{module}").main():
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
