"""``python -m vsr``. A signal while the command is still importing its modules (torch takes seconds)
ends it at once with 130, as later ones do: nothing has been opened or written yet."""
import os
import signal
import sys


def _while_importing(signum: int, frame: object) -> None:
    sys.stderr.write("vsr: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


_previous = {sig: signal.signal(sig, _while_importing) for sig in (signal.SIGINT, signal.SIGTERM)}
from .cli import main  # noqa: E402

for _sig, _handler in _previous.items():
    signal.signal(_sig, _handler)

code = main()
if code == 130:
    # Interrupted: the output is already finalized, and torch's interpreter teardown can take
    # seconds on a busy machine, so leave at once rather than keep the user waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
