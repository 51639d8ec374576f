"""Video: reading frames (``open_video``), and the streaming upscale pipeline (``upscale_video``)."""
from .decode import Frame, VideoInfo, VideoSource, open_video
from .encode import EncodeOptions
from .pipeline import Interrupted, Summary, upscale_video

__all__ = ["EncodeOptions", "Frame", "Interrupted", "Summary", "VideoInfo", "VideoSource", "open_video",
           "upscale_video"]
