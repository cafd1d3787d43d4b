"""`python -m tests.fuzz_slow_tier [examples]`: the fuzz slow tier, with its request count.

Runs tests/test_fuzz.py with FUZZ_EXAMPLES (default 40) and counts, from the app's access log,
the requests actually made (hypothesis stops early on operations with few distinct inputs,
so operations x examples x 2 callers is only the ceiling) and how many answered 5xx.
Exit status: pytest's, or 1 when fewer than MINIMUM requests were made.
"""

import json
import os
import subprocess
import sys
from collections import Counter

from tests.test_fuzz import _operations

MINIMUM = 5000
ACCESS = '"logger": "carepact.access"'
# Each operation's test fetches the document once; that request is not a fuzzed one.
DOCUMENT = '"path": "/api/v1/openapi.json"'


def main(argv: list[str]) -> int:
    examples = int(argv[0]) if argv else int(os.environ.get("FUZZ_EXAMPLES", "40"))
    operations = len(_operations())
    ceiling = operations * examples * 2
    print(f"fuzz slow tier: {operations} operations x {examples} examples x 2 callers", flush=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_fuzz.py",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
        ],
        env={**os.environ, "FUZZ_EXAMPLES": str(examples)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    statuses: Counter = Counter()
    for line in process.stdout:
        if ACCESS in line and DOCUMENT not in line:
            try:
                statuses[json.loads(line[line.index("{") :])["status"] // 100] += 1
            except (ValueError, KeyError):
                continue
        elif ACCESS not in line and not line.startswith("{"):
            print(line, end="", flush=True)
    code = process.wait()
    requests = sum(statuses.values())
    server_errors = statuses[5]
    by_class = {f"{k}xx": n for k, n in sorted(statuses.items())}
    print(
        f"fuzz: requests={requests} (ceiling {ceiling}) 5xx={server_errors} {by_class} "
        f"{'PASS' if code == 0 and requests >= MINIMUM and not server_errors else 'FAIL'}"
    )
    if code == 0 and requests < MINIMUM:
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
