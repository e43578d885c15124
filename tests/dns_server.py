"""Real DNS servers on loopback for tests: dnsmasq with fixed records, and a stub that always fails.

dnsmasq comes from the Debian package ``dnsmasq-base`` (CI installs it in ``.ci/run``). The records and
the pitfalls behind them are in shared/notes/dns-testing.md.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import dns.resolver

# Every name not listed is NXDOMAIN (the catch-all). ``local=`` makes dnsmasq answer MX queries for a
# name it only has an A record for with NoAnswer instead of REFUSED.
RECORDS = """\
mx-host=example.com,mx.example.com,10
address=/mx.example.com/127.0.0.2
mx-host=two-mx.example,mx1.two-mx.example,10
mx-host=two-mx.example,mx2.two-mx.example,20
address=/a-only.example/93.184.215.14
local=/a-only.example/
address=/loopback-only.example/127.0.0.3
local=/loopback-only.example/
mx-host=null-mx.example,.,0
address=/spf-reject.example/93.184.215.14
txt-record=spf-reject.example,"v=spf1 -all"
local=/spf-reject.example/
address=/#/
"""

INSTALL_HINT = (
    "dnsmasq is not installed, and the DNS tests need a real server on loopback: run "
    "`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dnsmasq-base` "
    "(CI does this in .ci/run)"
)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now (dnsmasq listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1")


def dnsmasq_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")


def answers(port: int, timeout: float = 0.2) -> bool:
    """Whether a server on 127.0.0.1:port answers an MX query for example.com."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], port, timeout
    try:
        resolver.resolve("example.com", "MX")
    except dns.exception.DNSException:
        return False
    return True


class Dnsmasq:
    """dnsmasq in the foreground on a free loopback port, owned by this object (stop() ends it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: float = 5.0) -> Dnsmasq:
        binary = dnsmasq_binary()
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        errors = []
        for _ in range(3):  # another process may grab the free port before dnsmasq binds it
            self.port = free_port()
            conf = self.folder / f"dnsmasq-{self.port}.conf"
            conf.write_text(
                f"port={self.port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
                # local-ttl > 0 or a caching resolver never hits its cache
                f"log-facility={self.folder / 'dnsmasq.log'}\nlocal-ttl=60\n{RECORDS}"
            )
            subprocess.run([binary, "--test", f"--conf-file={conf}"], check=True, capture_output=True)
            self.process = subprocess.Popen(
                [binary, "--keep-in-foreground", f"--conf-file={conf}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.process.poll() is None:
                if answers(self.port):
                    return self
                time.sleep(0.05)
            errors.append(self.stop() or f"did not answer within {wait} s")
        raise RuntimeError(f"dnsmasq did not start: {errors}")

    def stop(self) -> str:
        """End the server; returns what it wrote to stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        self.process = None
        return err.strip()


class FailingServer:
    """A UDP DNS server on loopback answering every query with one error rcode (REFUSED, SERVFAIL)."""

    def __init__(self, rcode: dns.rcode.Rcode) -> None:
        self.rcode = rcode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FailingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            with contextlib.suppress(dns.exception.DNSException):
                response = dns.message.make_response(dns.message.from_wire(data))
                response.set_rcode(self.rcode)
                self.sock.sendto(response.to_wire(), peer)
                self.queries += 1
