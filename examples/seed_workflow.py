"""The seed workflow, end to end: see kanlab/demo.py (also `kanlab demo` and `make demo`).

    python examples/seed_workflow.py [--out FOLDER]
"""

import sys

from kanlab.demo import main

if __name__ == "__main__":
    sys.exit(main())
