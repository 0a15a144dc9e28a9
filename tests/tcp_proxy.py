"""A TCP proxy that tests cut and restore, to take PostgreSQL or Redis away from a real process."""

import socket
import threading


class TcpProxy:
    """A TCP proxy between a server process and PostgreSQL or Redis (127.0.0.1, random port). cut() drops
    every proxied connection and refuses new ones: for the processes behind it, that service is down. The
    shared servers themselves are never touched (other suites use them)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.lock = threading.Lock()
        self.sockets: set = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s):
        with self.lock:
            self.sockets.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self):
        self.up = False
        with self.lock:
            live = list(self.sockets)
        for s in live:
            self._drop(s)

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()
