"""The OpenCV window: a resizable view fitted to the screen, keys, and mouse drags on the divider.

OpenCV's Qt backend aborts the whole process when it cannot reach a display, so the display is
probed first (with Tk, which fails politely) and a missing one becomes a one-line error.
"""
import logging
import os
import sys
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..errors import VsrError
from .view import fit

log = logging.getLogger(__name__)

TITLE = "vsr live"
ASSUMED_SCREEN = (1920, 1080)  # when Tk is not installed to ask
SCREEN_MARGIN = (40, 100)  # room for the window frame, title bar and task bar
NO_DISPLAY = "no display to open a window on ({why}): use --no-window to run headless"


def has_gui() -> bool:
    """False for opencv-python-headless and other builds without a window backend."""
    info = cv2.getBuildInformation()
    section = info[info.find("GUI:"):].splitlines()
    return bool(section) and not section[0].split(":", 1)[1].strip().upper().startswith("NONE")


def screen_size() -> Tuple[int, int]:
    """Pixels of the screen a window would open on; ``VsrError`` when there is no display at all."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VsrError(NO_DISPLAY.format(why="DISPLAY is not set"))
    try:
        import tkinter
    except ImportError:
        log.debug("tkinter is not installed; assuming a %dx%d screen", *ASSUMED_SCREEN)
        return ASSUMED_SCREEN
    try:
        root = tkinter.Tk()
    except tkinter.TclError as exc:
        raise VsrError(NO_DISPLAY.format(why=exc)) from None
    try:
        root.withdraw()
        return root.winfo_screenwidth(), root.winfo_screenheight()
    finally:
        root.destroy()


class PreviewWindow:
    """One resizable window. ``show`` displays a frame, fitted to the screen when larger than it;
    ``keys`` pumps events and returns the keys pressed; ``drag`` reports where the mouse
    dragged the divider, as a fraction of the frame's width."""

    def __init__(self, title: str = TITLE):
        if not has_gui():
            raise VsrError("this OpenCV has no window support (opencv-python-headless?): "
                           "install opencv-python, or use --no-window")
        width, height = screen_size()
        self.bounds = (max(1, width - SCREEN_MARGIN[0]), max(1, height - SCREEN_MARGIN[1]))
        self.title = title
        self._shape: Optional[Tuple[int, ...]] = None
        self._drag: Optional[float] = None
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise VsrError(NO_DISPLAY.format(why=str(exc).strip().splitlines()[-1])) from None
        cv2.setMouseCallback(title, self._on_mouse)
        self._open = True

    def _on_mouse(self, event: int, x: int, y: int, flags: int, _param) -> None:
        # Coordinates arrive in frame pixels whatever the window's size.
        dragging = event == cv2.EVENT_LBUTTONDOWN or (
            event == cv2.EVENT_MOUSEMOVE and flags & cv2.EVENT_FLAG_LBUTTON)
        if dragging and self._shape:
            self._drag = x / max(1, self._shape[1])

    def show(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape:  # new mode or scale: size the window to the frame, fitted
            self._shape = frame.shape
            cv2.resizeWindow(self.title, *fit((frame.shape[1], frame.shape[0]), self.bounds))
        cv2.imshow(self.title, frame)

    def keys(self, wait_ms: int = 1) -> List[int]:
        """Pump events for up to ``wait_ms`` and return every key pressed meanwhile, in order.

        OpenCV keeps one key per event pump, so the first key ends the wait and the rest are read 1 ms apart.
        """
        pressed: List[int] = []
        key = cv2.waitKeyEx(wait_ms)
        while key != -1:
            pressed.append(key)
            key = cv2.waitKeyEx(1)
        return pressed

    def drag(self) -> Optional[float]:
        """The divider position the mouse asked for since the last call, if any."""
        drag, self._drag = self._drag, None
        return drag

    @property
    def closed(self) -> bool:
        """True once the user closed the window with its close button."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:  # some backends raise once the window is gone
            return True

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error as exc:  # already closed by the user
                log.debug("closing the window: %s", exc)
