"""Create a throw-away CA and a server certificate for ``127.0.0.1`` / ``localhost``.

``cryptography`` is imported only here, and only when TLS is requested.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass
class TlsMaterial:
    """Point at the generated files and the server-side SSL context."""

    directory: str
    ca_bundle: str
    context: ssl.SSLContext

    def cleanup(self) -> None:
        """Delete the generated files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: Any, issuer: Any, public_key: Any, days: int) -> Any:
    from cryptography import x509

    now = datetime.now(UTC) - timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(signs_certs: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not signs_certs,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certs,
        crl_sign=signs_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_cert(ca_key: Any) -> Any:
    """Build the self-signed CA certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    ca_name = _name("hep-sandbox test CA")
    return (
        _builder(ca_name, ca_name, ca_key.public_key(), 7)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certs=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def _server_cert(key: Any, ca_cert: Any, ca_key: Any) -> Any:
    """Build the server certificate for 127.0.0.1 and localhost, signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        _builder(_name("localhost"), ca_cert.subject, key.public_key(), 7)
        .add_extension(san, critical=False)
        .add_extension(aki, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _make_certs() -> tuple[bytes, bytes, bytes]:
    """Return (CA cert PEM, server cert PEM, server key PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_cert(ca_key)
    cert = _server_cert(key, ca_cert, ca_key)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_cert.public_bytes(pem), cert.public_bytes(pem), key_pem


def create_tls() -> TlsMaterial:
    """Write a CA bundle, certificate and key to a new temp dir; return the server context."""
    ca_pem, cert_pem, key_pem = _make_certs()
    directory = tempfile.mkdtemp(prefix="hep-sandbox-tls-")
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}
    for name, content in (("ca.pem", ca_pem), ("server.pem", cert_pem), ("server.key", key_pem)):
        with open(paths[name], "wb") as handle:
            handle.write(content)
    os.chmod(paths["server.key"], 0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(paths["server.pem"], paths["server.key"])
    return TlsMaterial(directory, paths["ca.pem"], context)
