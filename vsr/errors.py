"""One exception type for every problem a user can fix; the CLI turns it into a one-line message."""


OUT_OF_MEMORY = "out of memory (try --tile or a smaller --batch)"  # host memory, wherever it ran out


class VsrError(Exception):
    """A user-facing failure: bad input, bad weights, bad environment. ``exit_code`` is what the CLI returns."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's message for an error (PyAV's ``FFmpegError``), as a lower-case clause for a one-line VsrError."""
    return (getattr(exc, "strerror", None) or str(exc)).strip().rstrip(".").lower() or type(exc).__name__
