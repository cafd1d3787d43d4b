"""`python -m jobs`: the background worker (`jobs.worker`).

The signal handlers go in before the app is imported: that takes a second or more, and a
SIGTERM in that second must stop the worker as cleanly as one later (`jobs.stopping`).
"""

import sys

from jobs.stopping import SIGNALS

if __name__ == "__main__":
    SIGNALS.install()
    from jobs.worker import main

    sys.exit(main())
