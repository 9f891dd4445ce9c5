"""Certificates for the cluster: a private CA, a server certificate for its host names, a client certificate.

Made with ``cryptography``; the server presents ``server.pem``, clients trust ``ca.pem``, and with mutual TLS
clients present ``client.pem``. Keys are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FILES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$)(\*\.)?{LABEL}(\.{LABEL})*\.?")  # RFC 1123 names, a leading wildcard


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    def read(self, name: str) -> bytes:
        """A file's PEM bytes; raises FileNotFoundError if it is missing, ValueError if it is not PEM."""
        path = self.folder / name
        try:
            data = path.read_bytes()
        except OSError:
            raise FileNotFoundError(
                f"{path} is missing; make the files with `fedrec certs --out {self.folder}`"
            ) from None
        try:
            _public_key(name, data)
        except (ValueError, TypeError):
            what = "an unencrypted PEM private key" if name.endswith(".key") else "a PEM certificate"
            raise ValueError(
                f"{path} is not {what}; make the files again with `fedrec certs --out {self.folder} --force`"
            ) from None
        return data

    def server_credentials(self, require_client_cert: bool) -> grpc.ServerCredentials:
        """The server's TLS credentials; with ``require_client_cert``, clients must present a certificate the CA
        signed."""
        pair = (self.read("server.key"), self.read("server.pem"))
        if _public_key("server.key", pair[0]) != _public_key("server.pem", pair[1]):
            raise ValueError(
                f"{self.folder}/server.key is not the key of server.pem; make the files again with "
                f"`fedrec certs --out {self.folder} --force`"
            )
        return grpc.ssl_server_credentials(
            [pair], root_certificates=self.read("ca.pem"), require_client_auth=require_client_cert
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """A client's TLS credentials (the CA, and its own certificate if it has one)."""
        has_client_cert = (self.folder / "client.pem").is_file() and (self.folder / "client.key").is_file()
        return grpc.ssl_channel_credentials(
            root_certificates=self.read("ca.pem"),
            private_key=self.read("client.key") if has_client_cert else None,
            certificate_chain=self.read("client.pem") if has_client_cert else None,
        )


def _public_key(name: str, data: bytes) -> bytes:
    """The public key a PEM key or certificate holds (raises ValueError or TypeError if it holds none)."""
    if name.endswith(".key"):
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = x509.load_pem_x509_certificate(data).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_certificates(folder: Path, hosts: list[str], days: int = 365, replace: bool = False) -> list[Path]:
    """Writes ``FILES`` into ``folder``: a new CA and the server and client certificates it signs.

    Raises ``FileExistsError`` naming the files already there unless ``replace`` (a new CA locks out every
    client that trusts the old one), ``ValueError`` for a host that is neither an IP address nor a DNS name,
    and ``OSError`` when the folder cannot be made.
    """
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--out {folder} is a file, not a folder; pass another --out")
    existing = [name for name in FILES if (folder / name).exists()]
    if existing and not replace:
        raise FileExistsError(f"{folder} already holds {', '.join(existing)}")
    for host in hosts:
        _san(host)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedrec cluster CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, days, is_ca=True)
    written = [_write(folder / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))]
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fedrec {role}")])
        cert = _certificate(name, ca_name, key.public_key(), ca_key, days, usage=usage, hosts=hosts)
        written.append(_write(folder / f"{role}.pem", cert.public_bytes(serialization.Encoding.PEM)))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        written.append(_write(folder / f"{role}.key", pem, mode=0o600))
    return written


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    days: int,
    is_ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    hosts: list[str] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not HOST_NAME.fullmatch(host):
        raise ValueError(f"{host!r} is neither an IP address nor a host name (letters, digits, '-', '.')")
    return x509.DNSName(host)


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
