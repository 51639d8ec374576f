"""Scale-out on Ray: videos cut at keyframes, segments upscaled by resident workers, joined by stream copy.

Ray is an optional extra (``pip install 'vsr[ray]'``) and is imported only here, only when asked
for (``--ray``), so the rest of vsr never pays for it.
"""
from ..errors import VsrError

# Long enough that the per-segment costs (seek, encoder start, an extra keyframe, the join) stay small
# next to the work; short enough that a film gives hundreds of segments to balance over many GPUs and
# that Ctrl-C or a lost worker costs little. See benchmarks/results/cluster.md.
DEFAULT_SECONDS = 10.0
INSTALL_HINT = "--ray needs Ray, which is not installed: pip install 'vsr[ray]'"


def import_ray():
    """The ``ray`` module, or a one-line ``VsrError`` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise VsrError(INSTALL_HINT) from None
    return ray
