"""The return half of kprobe hooks on this host (syscall hooks on the syscall tracepoints):
matchReturnArgs filters the return value in the kernel, returnCopy reads the buffer at return,
char_iovec reads writev's vectors."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

from tests.kernel.test_kprobe_policies import _openat, kps
from tests.kernel.test_tracepoint_policies import add, add_kprobes, copy_bin, metric, start

PY = sys.executable


def test_match_return_args_drops_the_entry_whose_return_fails(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    d = tmp_path / "mret"
    d.mkdir()
    (d / "there").write_text("x")
    text = _openat("openat-mret", str(d), ret=True)
    text += "      matchReturnArgs: [{index: 0, operator: GT, values: ['0']}]\n"
    add(tetra, tmp_path, text)
    tag = copy_bin(tmp_path, PY, "py-mret")
    code = (
        "import os\n"
        f"try: os.open({str(d / 'missing')!r}, os.O_RDONLY)\n"
        "except FileNotFoundError: pass\n"
        f"print(os.open({str(d / 'there')!r}, os.O_RDONLY))\n"
    )
    fd = int(subprocess.run([tag, "-S", "-c", code], check=True, capture_output=True, text=True).stdout)
    agent.wait_for(lambda e: any(k["process"]["binary"] == tag for k in kps(e, "openat-mret")))
    time.sleep(0.5)
    mine = [k for k in kps(agent.events(), "openat-mret") if k["process"]["binary"] == tag]
    assert [(k["args"][1]["string_arg"], k["return"]) for k in mine] == [(str(d / "there"), {"int_arg": fd})]
    filtered = metric(
        mport, "tetragon_tracingpolicy_kernel_events_total", policy="openat-mret", outcome="filtered"
    )
    assert filtered >= 1  # the -ENOENT return, rejected in the kernel


def test_return_copy_and_char_iovec(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    tag = copy_bin(tmp_path, PY, "py-copy")
    src = tmp_path / "src"
    src.write_bytes(b"0123456789" * 3)
    add_kprobes(
        tetra,
        tmp_path,
        "read-copy",
        f"""  - call: sys_read
    syscall: true
    return: true
    args:
    - {{index: 0, type: int}}
    - {{index: 1, type: char_buf, sizeArgIndex: 3, returnCopy: true}}
    - {{index: 2, type: size_t}}
    returnArg: {{index: 0, type: int}}
    selectors:
    - matchBinaries: [{{operator: In, values: ["{tag}"]}}]
      matchArgs: [{{index: 2, operator: Equal, values: ["12345"]}}]
  - call: sys_writev
    syscall: true
    args:
    - {{index: 0, type: int}}
    - {{index: 1, type: char_iovec, sizeArgIndex: 3}}
    - {{index: 2, type: int}}
    selectors:
    - matchBinaries: [{{operator: In, values: ["{tag}"]}}]
""",
    )
    code = (
        "import os\n"
        f"fd = os.open({str(src)!r}, os.O_RDONLY)\n"
        "assert os.read(fd, 12345) == b'0123456789' * 3\n"
        f"out = os.open({str(tmp_path / 'dst')!r}, os.O_WRONLY | os.O_CREAT)\n"
        "os.writev(out, [b'abc', b'', b'defgh'])\n"
    )
    subprocess.run([tag, "-S", "-c", code], check=True)
    evs = agent.wait_for(
        lambda e: {k["function_name"] for k in kps(e, "read-copy")} >= {"__x64_sys_read", "__x64_sys_writev"}
    )
    got = {k["function_name"]: k for k in kps(evs, "read-copy")}
    rd = got["__x64_sys_read"]
    assert rd["return"] == {"int_arg": 30}
    assert base64.b64decode(rd["args"][1]["bytes_arg"]) == b"0123456789" * 3  # the bytes read, at return
    assert rd["args"][2] == {"size_arg": "12345"}
    wv = got["__x64_sys_writev"]
    assert base64.b64decode(wv["args"][1]["bytes_arg"]) == b"abcdefgh" and wv["args"][2] == {"int_arg": 3}
