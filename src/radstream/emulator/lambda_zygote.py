"""A pre-initialised parent that forks Lambda execution environments.

Starting a fresh interpreter and importing boto3, numpy, Pillow and pydicom costs seconds of
CPU per cold start on a small machine, which swamps what the pipeline itself does. This process
imports those third-party packages once (the "layer"; never the deployed ``radstream`` code)
and forks a child per new execution environment. The child takes the function's environment
variables and runs ``lambda_worker.main`` exactly as a spawned worker would, so the deployed
code is still imported fresh from the function's package in every environment.

Protocol on the socket whose fd is in RADSTREAM_ZYGOTE_FD: the runtime sends a JSON request with two file
descriptors attached (the environment's protocol input and output pipes); we fork and answer
``{"pid": N}``. Children are reaped automatically (SIGCHLD ignored).

Usage: python lambda_zygote.py   (started by ``lambda_launchers.ZygoteLauncher``)
"""

import importlib
import json
import os
import signal
import socket
import sys

PRELOAD = ("boto3", "botocore.session", "numpy", "PIL.Image", "PIL.PngImagePlugin", "PIL.JpegImagePlugin",
           "pydicom", "urllib3", "aws_lambda_powertools.metrics", "aws_lambda_powertools.logging")


def main() -> None:
    channel = socket.socket(fileno=int(os.environ.pop("RADSTREAM_ZYGOTE_FD")))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a function that needs it will import it itself, and fail clearly if it is missing
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    channel.sendall(b'{"ready": true}\n')
    while True:
        message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 2)
        if not message:
            return  # the runtime went away
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            channel.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(fds[0], 0)
            os.dup2(fds[1], 1)
            os.close(fds[0])
            os.close(fds[1])
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["code_dir"])
            sys.argv = ["lambda_worker.py", request["code_dir"], request["handler"], request["log_file"]]
            import lambda_worker

            try:
                lambda_worker.main()
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    main()
