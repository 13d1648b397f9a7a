"""`make run`: the whole stack on one machine, each service its own process.

    python -m devstack            # start everything, print the URL, Ctrl-C stops it
"""
from __future__ import annotations

import sys

from devstack.launcher import main

if __name__ == "__main__":
    sys.exit(main())
