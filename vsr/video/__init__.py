"""Video: reading frames (``open_video``), and the streaming upscale pipeline (``upscale_video``)."""
from .decode import VideoInfo, VideoSource, open_video
from .encode import EncodeOptions, VideoSink
from .frame import ColorTags, Frame, StreamDescription
from .pipeline import Interrupted, Summary, upscale_video
from .sr import SuperResolver

__all__ = ["ColorTags", "EncodeOptions", "Frame", "Interrupted", "StreamDescription", "SuperResolver", "Summary",
           "VideoInfo", "VideoSink", "VideoSource", "open_video", "upscale_video"]
