"""Local certificate authority: every certificate and key the control plane needs."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ECDSA P-256 keys take milliseconds to make (RSA-2048 takes far longer on two cores),
# and every Kubernetes component accepts them, including for service-account tokens.
_CURVE = ec.SECP256R1()
_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class LeafSpec:
    """One certificate to issue: who it names and what it may be used for."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    issuer: str = "ca"


@dataclass
class Pki:
    """Paths of the generated files inside one directory."""

    directory: Path
    leaves: list[LeafSpec] = field(default_factory=list)

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "service-account.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "service-account.pub"


def control_plane_leaves(service_ip: str) -> list[LeafSpec]:
    """The certificates a single-machine control plane needs."""
    loopback = ("127.0.0.1",)
    apiserver_names = (
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    return [
        LeafSpec(
            "etcd-server",
            "etcd",
            server=True,
            client=True,
            dns_names=("localhost",),
            ip_addresses=loopback,
        ),
        LeafSpec("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
        LeafSpec(
            "apiserver",
            "kube-apiserver",
            server=True,
            dns_names=apiserver_names,
            ip_addresses=(*loopback, service_ip),
        ),
        LeafSpec(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            organizations=("system:masters",),
            client=True,
        ),
        LeafSpec("admin", "modelserve-admin", organizations=("system:masters",), client=True),
        LeafSpec("controller-manager", "system:kube-controller-manager", client=True),
        LeafSpec(
            "controller-manager-serving",
            "kube-controller-manager",
            server=True,
            dns_names=("localhost",),
            ip_addresses=loopback,
        ),
        LeafSpec("scheduler", "system:kube-scheduler", client=True),
        LeafSpec(
            "scheduler-serving",
            "kube-scheduler",
            server=True,
            dns_names=("localhost",),
            ip_addresses=loopback,
        ),
        LeafSpec("kwok", "modelserve:kwok", client=True),
        LeafSpec("front-proxy-client", "front-proxy-client", client=True, issuer="front-proxy-ca"),
    ]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _make_ca(pki: Pki, name: str, common_name: str) -> None:
    key = ec.generate_private_key(_CURVE)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + 10 * _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(pki.key(name), _key_pem(key))
    pki.cert(name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(pki: Pki, leaf: LeafSpec) -> None:
    ca_key = _load_key(pki.key(leaf.issuer))
    ca_cert = x509.load_pem_x509_certificate(pki.cert(leaf.issuer).read_bytes())
    key = ec.generate_private_key(_CURVE)
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in leaf.organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, leaf.common_name))
    usages = []
    if leaf.server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if leaf.client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in leaf.dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in leaf.ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(pki.key(leaf.name), _key_pem(key))
    pki.cert(leaf.name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_pki(directory: Path, service_ip: str) -> Pki:
    """Create whatever is missing under `directory`; existing files are kept."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = Pki(directory, control_plane_leaves(service_ip))
    new_authorities = set()
    for ca_name, common_name in (
        ("ca", "modelserve-ca"),
        ("front-proxy-ca", "modelserve-front-proxy-ca"),
    ):
        if not (pki.cert(ca_name).exists() and pki.key(ca_name).exists()):
            _make_ca(pki, ca_name, common_name)
            new_authorities.add(ca_name)
    for leaf in pki.leaves:
        # A leaf signed by an authority we just replaced would no longer be trusted.
        present = pki.cert(leaf.name).exists() and pki.key(leaf.name).exists()
        if not present or leaf.issuer in new_authorities:
            _issue(pki, leaf)
    if not pki.service_account_key.exists():
        sa_key = ec.generate_private_key(_CURVE)
        _write_private(pki.service_account_key, _key_pem(sa_key))
        pki.service_account_public_key.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki
