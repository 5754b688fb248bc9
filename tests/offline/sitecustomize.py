"""Loaded by every Python process the test run starts (the notebook kernels too) through
PYTHONPATH: refuses outbound network connections and records each attempt in the file
named by COURSE_NETWORK_LOG, so the test run fails even if a notebook swallows the error."""
import os
import socket

_log = os.environ.get("COURSE_NETWORK_LOG")
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _local(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in ("localhost", "::1", "0.0.0.0", "") or host.startswith("127.")


def _refuse(target):
    if _log:
        with open(_log, "a") as f:
            f.write(f"pid {os.getpid()} cwd {os.getcwd()}: {target}\n")
    raise ConnectionRefusedError(f"network blocked during tests: {target}")


def connect(self, address):
    if isinstance(address, tuple) and not _local(address[0]):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if isinstance(address, tuple) and not _local(address[0]):
        _refuse(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local(host):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
