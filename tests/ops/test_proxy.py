"""deploy/nginx/sifnet.conf for real: signed federation requests pass through nginx (TLS) to gunicorn.

Skipped when no nginx binary is installed. The node behind the proxy runs with proxy_fix=1
and its public https URL as base_url; its peer reaches it only through nginx.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from deploy.processes import gunicorn, worker
from tests.federation.conftest import FAST, peer, wait_until
from tests.procs import NodeProcess, free_port

pytestmark = pytest.mark.slow
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "sifnet.conf"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost (and its key), made with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _nginx_config(folder: Path, *, https_port: int, http_port: int, upstream: int, cert: Path, key: Path) -> Path:
    """The deploy example with test ports, certificate and host; everything else as shipped."""
    site = DEPLOY_CONF.read_text()
    for old, new in (
        ("/etc/letsencrypt/live/sif.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/sif.example.org/privkey.pem", str(key)),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("127.0.0.1:8000", f"127.0.0.1:{upstream}"),
        ("sif.example.org", "localhost"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    (folder / "site.conf").write_text(site)
    main = folder / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n access_log {folder}/access.log;\n client_body_temp_path {folder}/body;\n"
        f" proxy_temp_path {folder}/proxy;\n include {folder}/site.conf;\n}}\n"
    )
    return main


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_federation_through_the_nginx_example(node_process, tmp_path, monkeypatch):
    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, key = _self_signed(folder)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the peer process and this test trust the proxy
    https_port = free_port()
    public = f"https://localhost:{https_port}"
    px = NodeProcess(
        tmp_path / "px", "px", settings={**FAST, "base_url": public, "proxy_fix": 1, "scheduler": "worker"}
    ).init()
    web, jobs = gunicorn(px, workers=2), worker(px)
    conf = _nginx_config(folder, https_port=https_port, http_port=free_port(), upstream=px.port, cert=cert, key=key)
    subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
    subprocess.run([NGINX, "-c", str(conf)], check=True, capture_output=True)
    try:
        web.start()
        web.wait_healthy(px.url, path="/readyz", timeout=60, interval=0.1)
        jobs.start()
        hu = node_process("hu", **FAST)
        behind_url = public  # every request of this test to px goes through nginx
        coordinator_hu = hu.coordinator()
        added = coordinator_hu.call("POST", "/federation/peers", {"url": behind_url}, expect=201).json()
        coordinator_hu.call(
            "POST",
            "/federation/peers/px/confirm",
            {"fingerprint": added["fingerprint"], "trust_limit": 100},
            expect=200,
        )
        peer(_Public(px, behind_url), hu)  # px peers hu directly (px's API reached through nginx)
        pia = _Public(px, behind_url).new_member("pia")
        zoltan = hu.new_member("zoltan")
        assert zoltan.transfer("pia@px", 3, "through the proxy").status_code == 201
        assert pia.transfer("zoltan@hu", 2, "and back").status_code == 201
        wait_until(lambda: (pia.balance(), zoltan.balance()) == (11, 9), timeout=30, what="both payments applied")
        inbox_calls = [
            line
            for line in (folder / "access.log").read_text().splitlines()
            if "POST /federation/v1/inbox" in line and '" 200 ' in line
        ]
        assert inbox_calls, "hu's signed deliveries did not go through nginx"
        where = requests.get(f"{behind_url}/healthz", timeout=10)
        assert where.status_code == 200 and len(where.headers["X-Request-Id"]) == 32  # nginx's $request_id
    finally:
        subprocess.run([NGINX, "-c", str(conf), "-s", "stop"], capture_output=True)
        web.kill9()
        jobs.kill9()


class _Public:
    """A NodeProcess's helpers, pointed at its public URL (through the proxy)."""

    def __init__(self, node: NodeProcess, url: str) -> None:
        self._node, self.url, self.node_id = node, url, node.node_id

    def client(self, token=None):
        from tests.procs import NodeClient

        return NodeClient(self.url, token)

    def coordinator(self):
        return self.client().login("coordinator@example.org")

    def new_member(self, handle: str):
        return NodeProcess.new_member(self, handle)
