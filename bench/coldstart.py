"""Cold start of each Lambda handler module: its import time in a fresh interpreter, with bytecode
present (as `sam build` ships it) and with none at all (every module compiled on import).

    python bench/coldstart.py [--runs 5]

Imports run from the project root with the built-in default config, as a function would start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import time; t = time.perf_counter(); import {module}; "
         "print((time.perf_counter() - t) * 1000)")


def handler_modules() -> list[str]:
    """The module of every function in template.yaml."""
    sys.path.insert(0, str(ROOT))
    from handlers.lambda_local import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"].values()
    return sorted({r["Properties"]["Handler"].rpartition(".")[0] for r in resources
                   if r["Type"] == "AWS::Serverless::Function"})


def import_ms(module: str, cache_prefix: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APEX_", "PYTHONPYCACHEPREFIX"))}
    env["AWS_REGION"] = "us-east-1"
    if cache_prefix is not None:
        env["PYTHONPYCACHEPREFIX"] = cache_prefix   # an empty cache: nothing is precompiled
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| handler module | import with .pyc (median) | without .pyc (median) |")
    print("| --- | --- | --- |")
    for module in handler_modules():
        import_ms(module, None)                       # writes the bytecode
        warm = statistics.median(import_ms(module, None) for _ in range(args.runs))
        cold = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as empty:
                cold.append(import_ms(module, empty))
        print(f"| `{module}` | {warm:.0f} ms | {statistics.median(cold):.0f} ms |")


if __name__ == "__main__":
    main()
