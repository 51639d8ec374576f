"""A ``vsr live`` session in a real window whose third upscale waits, for test_live_window's keys-during-an-upscale.

``python tests/live_keys_driver.py CLIP WEIGHTS_X3 PNG``: the session is the CLI's (real capture, window and
Upscaler), but the Upscaler's third call says ``gate`` and waits for a line on stdin before it runs, so the
test can send keys while an upscale is certainly under way. Each key the window reads is said as ``key N``;
when the line comes, ``released`` says how often the window redrew meanwhile and the view it last showed
(whose picture goes to PNG), and the upscale goes on.
"""
from dataclasses import replace
import sys
import threading

import cv2

from vsr.live.app import Live
from vsr.live.capture import open_source
from vsr.live.window import PreviewWindow
from vsr.upscaler import Upscaler

GATED_CALL = 3  # by then the window is up and has drawn
_said = threading.Lock()  # two threads print: keep their lines whole


def say(line: str) -> None:
    with _said:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class CountingWindow(PreviewWindow):
    """The real window; counts its redraws, keeps the last picture and view it showed, says each key."""

    def __init__(self):
        super().__init__()
        self.live = None
        self.shows = 0
        self.last = None

    def show(self, frame):
        super().show(frame)
        self.shows += 1
        self.last = (frame, replace(self.live.state))

    def keys(self, wait_ms=1):
        pressed = super().keys(wait_ms)
        for key in pressed:
            say(f"key {key}")
        return pressed


class Gated:
    """A real Upscaler whose ``GATED_CALL``-th upscale first waits for a line on stdin."""

    def __init__(self, inner, window, png):
        self.inner, self.window, self.png = inner, window, png
        self.calls = 0

    def upscale_yuv420(self, *planes):
        self.calls += 1
        if self.calls == GATED_CALL:
            before = self.window.shows
            say("gate")
            sys.stdin.readline()
            picture, state = self.window.last
            cv2.imwrite(self.png, picture)
            say(f"released shows={self.window.shows - before} mode={state.mode.value} overlay={state.overlay} "
                f"divider={state.divider:.2f} frame={self.window.live.shown.frame.index}")
        return self.inner.upscale_yuv420(*planes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def main(clip: str, weights: str, png: str) -> None:
    window = CountingWindow()
    capture = open_source(clip)
    try:
        up = Gated(Upscaler(3, "cpu", weights), window, png)
        window.live = Live(capture, lambda scale: up, 3, window=window)
        window.live.run()
    finally:
        window.close()
        capture.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
