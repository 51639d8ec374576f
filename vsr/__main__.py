"""``python -m vsr``: ``vsr.cli.main``, leaving at once after an interrupt."""
import os
import sys

from .startup import signals_end_the_process

with signals_end_the_process():
    from .cli import main

code = main()
if code == 130:
    # Interrupted: the output is already finalized, and torch's interpreter teardown can take
    # seconds on a busy machine, so leave at once rather than keep the user waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
