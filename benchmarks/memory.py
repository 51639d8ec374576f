"""Peak memory of one ``vsr`` command, measured in a child process (for benchmarks and tests)."""
import subprocess
import sys
from typing import Sequence

# Run as a child: its own high-water RSS (VmHWM) at exit. ``wait4``'s ru_maxrss would not do: Linux carries
# the parent's RSS at fork into the child's maximum, so a big benchmark process would be counted.
PEAK_RSS_CHILD = (
    "import runpy, sys\n"
    "try:\n"
    "    runpy.run_module('vsr', run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
)


def peak_rss_mib(args: Sequence[object]) -> float:
    """Peak resident memory (MiB) of one ``vsr`` process running ``args``."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS_CHILD, *map(str, args)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"vsr {' '.join(map(str, args))} failed: {proc.stderr[-500:]}")
    return int(proc.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024
