"""PostgreSQL with ``ssl = on`` in a temporary data directory: the STARTTLS (SSLRequest) peer.

PostgreSQL refuses to run as root: when we are root it runs as an unprivileged
account (:data:`POSTGRES_RUN_AS`). Keys are copied into the throw-away directory
only because PostgreSQL checks their owner and mode; nothing is logged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from inspector.lab.loopback import (
    LOOPBACK_V4,
    LabServerError,
    ProcessServer,
    closed_port,
    primary_group,
    wait_for_line,
    wait_until_connectable,
)
from inspector.lab.pki import PemFiles
from inspector.lab.tls_truth import (
    OPENSSL_PROTOCOLS,
    ExpectedTLS,
    openssl_expected,
    versions_between,
)


def postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and postgres, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for bindir in reversed(candidates):
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    return None


#: Unprivileged account PostgreSQL runs as when we are root (it refuses root).
POSTGRES_RUN_AS = "nobody"


class PostgresServer(ProcessServer):
    """PostgreSQL with ``ssl = on`` in a temporary data directory.

    Runs as the current user, or as :data:`POSTGRES_RUN_AS` when that is root.
    PostgreSQL cannot bind port 0: an ephemeral port is reserved and released
    just before start, and start is retried on a collision.
    """

    def __init__(
        self,
        pem: PemFiles,
        *,
        ssl_ciphers: str = "HIGH:MEDIUM:+3DES:!aNULL",
        min_version: str = "TLSv1.2",
        max_version: str | None = None,
        prefer_server_ciphers: bool = True,
        ecdh_curve: str = "prime256v1",
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__()
        self.pem = pem
        self.ssl_ciphers = ssl_ciphers
        self.min_version = min_version
        self.max_version = max_version
        self.prefer_server_ciphers = prefer_server_ciphers
        self.ecdh_curve = ecdh_curve
        self.host = host
        self._workdir: Path | None = None

    def expected(self) -> ExpectedTLS:
        """Truth from ``ssl_ciphers`` / ``ssl_*_protocol_version`` / ``ssl_ecdh_curve``.

        PostgreSQL links the system OpenSSL, so ``openssl ciphers`` speaks for it;
        TLS 1.3 uses OpenSSL's default suites (no setting before PostgreSQL 18).
        """
        return openssl_expected(
            self.pem,
            self.ssl_ciphers,
            versions=versions_between(self.min_version, self.max_version, OPENSSL_PROTOCOLS),
            server_preference=self.prefer_server_ciphers,
            groups=self.ecdh_curve,
            transport="starttls-postgres",
        )

    @staticmethod
    def _run_as() -> str | None:
        return POSTGRES_RUN_AS if os.geteuid() == 0 else None

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, POSTGRES_RUN_AS)

    def start(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise LabServerError(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)"
            )
        workdir = Path(tempfile.mkdtemp(prefix="cryptoscope-pg-"))
        self._workdir = workdir
        workdir.chmod(0o755)
        self._chown(workdir)
        data = workdir / "data"
        # Copies owned by the server's user: PostgreSQL checks the key's owner and mode.
        cert = workdir / "server.crt"
        key = workdir / "server.key"
        shutil.copyfile(self.pem.cert, cert)
        shutil.copyfile(self.pem.key, key)
        key.chmod(0o600)
        for path in (cert, key):
            self._chown(path)
        run_as = self._run_as()
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=workdir,
            user=run_as,
            group=primary_group(run_as) if run_as else None,
            extra_groups=[] if run_as else None,
        )
        if init.returncode != 0:
            self.stop()
            raise LabServerError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        settings = {
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{workdir}'",
            "ssl": "on",
            "ssl_cert_file": f"'{cert}'",
            "ssl_key_file": f"'{key}'",
            "ssl_ciphers": f"'{self.ssl_ciphers}'",
            "ssl_prefer_server_ciphers": "on" if self.prefer_server_ciphers else "off",
            "ssl_min_protocol_version": f"'{self.min_version}'",
            "ssl_ecdh_curve": f"'{self.ecdh_curve}'",
            "fsync": "off",
            "shared_buffers": "16MB",
            "max_connections": "40",
            "logging_collector": "off",
        }
        if self.max_version:
            settings["ssl_max_protocol_version"] = f"'{self.max_version}'"
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        last_error = ""
        for _attempt in range(5):
            self.port = closed_port(self.host)
            self._spawn(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)],
                cwd=str(workdir),
                user=run_as,
            )
            lines = self._lines()
            ready = wait_for_line(
                lines,
                re.compile(
                    r".*(database system is ready to accept connections|could not bind|FATAL.*)"
                ),
                self._proc,
                "postgres",
            )
            if ready is not None and "ready" in ready:
                self._drain_rest(lines)
                wait_until_connectable(self.host, self.port)
                return
            last_error = self.output_tail
            self._terminate()
        self.stop()
        raise LabServerError(f"postgres did not start:\n{last_error}")

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
