"""``vsr upscale``: an image or a video in, the same upscaled out."""
import argparse
import logging
from pathlib import Path
import signal
import sys

from ..errors import VsrError
from . import scaleout
from .common import FrameProgress, add_model_arguments, build_upscaler, check_output
from .stream import add_stream_arguments, key_values, live_progress, stream_settings, summary_line

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale", help="upscale an image or a video",
        description="Upscale an image (PNG, JPEG, BMP) or a video (anything FFmpeg reads; '-' for stdin) "
                    "with ESPCN. Video keeps its timestamps, audio, subtitles, colour tags and metadata (--frames cuts "
                    "the copied streams at the same time).",
    )
    p.add_argument("input", help="input image or video, - for stdin, or a stream URL "
                                 "(rtsp://, rtmp://, udp://, tcp://, srt://, http(s):// incl. HLS .m3u8)")
    p.add_argument("output", help="output file (the container follows its name), - for y4m on stdout, "
                                  "a stream URL (udp:// or tcp:// MPEG-TS, rtmp:// FLV, rtsp://) or a .m3u8 "
                                  "playlist (live HLS, segments beside it)")
    add_model_arguments(p)
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    v = p.add_argument_group("video")
    v.add_argument("--codec", help="video encoder (default libx264; also libx265, libsvtav1, libvpx-vp9, ffv1, "
                                   "h264_nvenc, hevc_nvenc, or any other FFmpeg video encoder)")
    v.add_argument("--crf", type=float, help="quality: lower is better (default 18 for libx264)")
    v.add_argument("--preset", help="encoder speed preset (default veryfast for libx264)")
    v.add_argument("--pix-fmt", help="output pixel format (default: the input's, when the encoder takes it)")
    v.add_argument("-e", "--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option passed to the encoder (repeatable), e.g. -e tune=film")
    v.add_argument("--format", help="output container when it cannot follow the name (default y4m for -)")
    v.add_argument("--no-audio", action="store_true", help="drop audio streams")
    v.add_argument("--no-subtitles", action="store_true", help="drop subtitle streams")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument("--hwaccel", choices=("none", "cuda"), default="none",
                   help="cuda: decode with the GPU's NVDEC where it can, else warn and decode in software "
                        "(with --strict: fail instead)")
    v.add_argument("--strict", action="store_true",
                   help="fail on damaged input instead of skipping damaged packets as FFmpeg does, "
                        "and when --hwaccel cannot be used")
    scaleout.add_arguments(p)
    add_stream_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import images

    if args.input != "-" and images.is_image_path(args.input):
        return _run_image(args)
    if args.output != "-" and images.is_image_path(args.output):
        raise VsrError(f"{args.output} is an image name but {args.input} is a video: give the output a video "
                       f"name (e.g. {Path(args.output).stem}.mp4)", exit_code=2)
    return _run_video(args)


def _run_image(args: argparse.Namespace) -> int:
    from .. import images

    output = Path(args.output)
    check_output(output, args.overwrite, [args.input])
    img = images.read(args.input)
    upscaler = build_upscaler(args)
    out = upscaler.upscale_y(img) if img.ndim == 2 else upscaler.upscale_rgb(img)
    images.write(output, out)
    log.info("%s: %dx%d -> %dx%d", output, img.shape[1], img.shape[0], out.shape[1], out.shape[0])
    return 0


def _run_video(args: argparse.Namespace) -> int:
    """A file-size limit (``ulimit -f``) makes a write fail with a one-line error rather than kill vsr
    with SIGXFSZ."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return _upscale_video(args)
    finally:
        signal.signal(signal.SIGXFSZ, previous)


def _upscale_video(args: argparse.Namespace) -> int:
    from ..video.encode import EncodeOptions
    from ..video.pipeline import upscale_video

    options = EncodeOptions(
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt,
        options=key_values(args.encoder_option, "encoder option"), audio=not args.no_audio, subtitles=not args.no_subtitles,
        format=args.format, muxer_options=key_values(args.output_option, "output option"),
    )
    if args.ray is not None:
        return scaleout.run_ray(args, options)  # imports Ray only now
    upscaler = build_upscaler(args)
    stream = stream_settings(args)
    bar = FrameProgress(disabled=args.no_progress or not sys.stderr.isatty())
    live = live_progress(stream, disabled=bar.disabled)
    try:
        summary = upscale_video(
            args.input, args.output, upscaler, options, batch=args.batch, max_frames=args.frames,
            overwrite=args.overwrite, progress=None if live else bar.update,
            strict=args.strict, hwaccel=args.hwaccel, **stream.pipeline_arguments(live),
        )
    except VsrError as exc:  # a stream that was cut short still says how it went
        if getattr(exc, "summary", None) is not None and exc.summary.live:
            log.info("%s", summary_line(exc.summary))
        raise
    finally:
        bar.close()
        if live is not None:
            live.close()
    log.info("%s", summary_line(summary))
    if summary.damaged:
        log.warning("%s is damaged: %d packets were skipped or concealed, as FFmpeg does "
                    "(--strict makes this an error)", args.input, summary.damaged)
    return 0
