"""One exception type for every problem a user can fix; the CLI turns it into a one-line message."""


class VsrError(Exception):
    """A user-facing failure: bad input, bad weights, bad environment. ``exit_code`` is what the CLI returns."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
