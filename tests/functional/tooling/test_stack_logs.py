"""Each start of a stack service writes a fresh log; the previous run's is kept beside it as ``.1``."""

from radstream.tooling.stack.embedded import EmbeddedStack, free_port


def test_each_start_gets_a_fresh_log_and_keeps_the_previous_one(tmp_path):
    stack = EmbeddedStack(tmp_path, port=free_port(), model_port=free_port())
    log = stack.log_path(stack.emulator)
    try:
        stack.start(model_server=False)
        stack.stop()
        with open(log, "ab") as out:
            out.write(b"Traceback of the first run\n")
        stack.start(model_server=False)
        assert log.with_name(log.name + ".1").read_bytes().endswith(b"Traceback of the first run\n")
        assert b"Traceback of the first run" not in log.read_bytes()
    finally:
        stack.stop()
