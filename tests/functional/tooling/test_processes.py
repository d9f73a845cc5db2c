"""The stack manager signals only processes it started: a pid is trusted only while its start time and
command line are still the ones recorded (pids are reused once a process exits)."""

import subprocess
import sys
import time

from radstream.tooling.stack import processes


def sleeper() -> tuple[subprocess.Popen, dict]:
    """A process of our own, and its identity once it runs its own program (not the fork's copy of ours)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    while (record := processes.identity(proc.pid)) is None or record["cmdline"][-1:] != ["import time; time.sleep(60)"]:
        time.sleep(0.02)
    return proc, record


def test_a_recorded_process_is_stopped_and_then_gone():
    proc, record = sleeper()
    try:
        assert processes.is_same(record)
        assert processes.terminate(record) == processes.STOPPED
        proc.wait(5)
        assert processes.terminate(record) == processes.GONE
    finally:
        proc.kill()


def test_a_pid_that_now_belongs_to_another_process_is_never_signalled():
    proc, record = sleeper()
    try:
        reused = dict(record, start_ticks=record["start_ticks"] - 1)  # the same pid, started at another time
        assert processes.terminate(reused) == processes.NOT_OURS
        other = dict(record, cmdline=["python", "-m", "radstream_model_server"])
        assert processes.terminate(other) == processes.NOT_OURS
        assert processes.terminate(proc.pid) == processes.NOT_OURS  # a bare pid (old state file): not trusted
        assert proc.poll() is None, "the process was signalled"
    finally:
        proc.kill()
        proc.wait(5)
