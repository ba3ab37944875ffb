"""Whether a server can listen where it was told to, asked before it starts."""

from __future__ import annotations

import errno
import socket


def cannot_listen(host: str, port: int) -> str | None:
    """Why a server cannot listen on host:port (a port out of range or in use, a host this machine
    is not), or None: said in one line before the server starts, not in its traceback."""
    if not 0 < port < 65536:
        return f"--port {port} is not a port (1 to 65535)"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"--host {host} is not a name or address this machine can resolve"
    except (OverflowError, UnicodeError):
        return f"--host {host} is not a host name"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use; choose another with --port"
            return (
                f"cannot listen on --host {host}: {exc.strerror or exc} (is it an address of this machine?)"
            )
    return None
