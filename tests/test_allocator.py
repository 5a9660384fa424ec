"""`bench.allocator`: with large blocks kept, a freed 64 MiB block serves the next request
without page faults; glibc's default maps (and faults in) fresh pages every time. Each case
runs in a fresh interpreter, since the setting is for the whole process."""

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")

SCRIPT = """
import ctypes, resource
from bench.allocator import keep_large_blocks, policy
state = keep_large_blocks()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]

def faults_of_a_fresh_block(size=64 * 2**20):
    # plain malloc, as torch's CPU allocator does (numpy would ask for huge pages)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_a_fresh_block()
print(state, "|", policy(), "|", faults_of_a_fresh_block())
"""


def run(malloc: str) -> tuple[str, str, int]:
    env = {**os.environ, "CELLBENCH_MALLOC": malloc}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    state, policy, faults = (part.strip() for part in result.stdout.split("|"))
    return state, policy, int(faults)


def test_kept_blocks_are_reused_without_page_faults():
    kept, default = run("keep"), run("default")
    assert kept[:2] == ("glibc, large blocks kept",) * 2
    assert default[:2] == ("glibc default",) * 2
    if default[2] < 1000:
        pytest.skip(f"glibc's default took only {default[2]} faults here (huge pages?)")
    assert kept[2] < default[2] / 10, (kept, default)


def test_an_unknown_setting_is_refused_by_name():
    env = {**os.environ, "CELLBENCH_MALLOC": "jemalloc"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "CELLBENCH_MALLOC: expected 'keep' or 'default', got 'jemalloc'" in result.stderr
