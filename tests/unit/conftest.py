"""Unit tests are pure: a test body that opens a connection or starts a process fails, naming the tier
it belongs in. (Module- and session-scoped fixtures are set up before this guard applies.)"""

import os
import socket
import subprocess

import pytest


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a unit test may not {what}: move it to tests/functional/")
    return refuse


@pytest.fixture(autouse=True)
def pure(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _refuse("open a network connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("open a network connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(os, "fork", _refuse("start a process"))
    monkeypatch.setattr(os, "posix_spawn", _refuse("start a process"))
