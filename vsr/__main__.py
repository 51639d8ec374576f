"""``python -m vsr`` and the ``vsr`` command: the CLI as the whole process, signals handled from the
first moment and the process left at once when it is done (``vsr.interrupts``)."""
from .interrupts import run_process


def _main() -> int:
    from .cli import main  # imported under the start-up handlers: torch takes seconds to load

    return main()


def run() -> None:
    """The ``vsr`` console script."""
    run_process(_main)


if __name__ == "__main__":
    run()
