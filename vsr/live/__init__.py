"""Live preview: a camera or video super-resolved in a window as it plays (``vsr live``)."""
