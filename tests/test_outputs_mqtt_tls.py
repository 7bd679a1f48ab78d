"""MQTT over TLS with a user name and password, against a mosquitto of the test's own that
allows nothing else: the right credentials deliver every part; a wrong password leaves the
link down with a reason while parts are still judged, recorded and kept for later."""
from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

from adgui.outputs import MqttOutput
from adgui.outputs.base import wait_until

from line_fakes import PlcCamera, make_station, recorded_parts
from test_outputs_mqtt import MOSQUITTO, Broker, Subscriber

mqtt = pytest.importorskip("paho.mqtt.client")
x509 = pytest.importorskip("cryptography.x509")
PASSWD_TOOL = Path(shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd")
pytestmark = pytest.mark.skipif(not (Path(MOSQUITTO).exists() and PASSWD_TOOL.exists()),
                                reason="mosquitto and mosquitto_passwd (Debian package mosquitto) "
                                       "are not installed")
USER, PASSWORD = "line", "s3cret-line"


def _write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "line test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return paths


class SecureBroker(Broker):
    """TLS only, no anonymous clients, one user from a mosquitto password file."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.ca, certificate, key = _write_certificates(folder)
        passwords = folder / "passwd"
        subprocess.run([str(PASSWD_TOOL), "-b", "-c", str(passwords), USER, PASSWORD], check=True,
                       capture_output=True)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\ncafile {self.ca}\ncertfile {certificate}\n"
            f"keyfile {key}\nallow_anonymous false\npassword_file {passwords}\n"
            f"persistence false\nuser root\nlog_dest file {folder}/mosquitto.log\n")


@pytest.fixture
def secure_broker(tmp_path):
    broker = SecureBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _output(broker: SecureBroker, folder: Path, password: str) -> MqttOutput:
    return MqttOutput({"broker": f"127.0.0.1:{broker.port}", "tls": True, "ca_file": str(broker.ca),
                       "username": USER, "password": password, "buffer_dir": str(folder)},
                      "line-test")


def test_tls_with_a_password_delivers_every_part(secure_broker, tmp_path):
    subscriber = Subscriber(secure_broker.port, "adgui/line-test/parts", "secure-subscriber",
                            (USER, PASSWORD), secure_broker.ca)
    output = _output(secure_broker, tmp_path / "buffer", PASSWORD)
    station, url = make_station(tmp_path, [output], camera=PlcCamera(rate=50.0), limit=20,
                                trigger="software")
    try:
        station.open()
        assert wait_until(lambda: output.status.up, 10), output.status.text
        station.start_run()
        assert station.pipeline.wait_finished(30)
        assert wait_until(lambda: len(subscriber.messages) >= 20, 20)
    finally:
        subscriber.close()
        station.close()
    records = recorded_parts(url)
    assert len(records) == 20
    assert sorted(m["part_id"] for m in subscriber.messages) == sorted(r.part_id for r in records)


def test_a_wrong_password_leaves_the_link_down_and_keeps_the_parts(secure_broker, tmp_path):
    buffer = tmp_path / "buffer"
    output = _output(secure_broker, buffer, "wrong")
    station, url = make_station(tmp_path, [output], camera=PlcCamera(rate=50.0), limit=8,
                                trigger="software")
    try:
        station.open()
        station.start_run()
        assert station.pipeline.wait_finished(30)
        assert wait_until(lambda: output.pending == 8, 10)
        assert not output.status.up
        assert output.status.text  # says why, for the window's link display
    finally:
        station.close()
    assert len(recorded_parts(url)) == 8
    assert len(list(buffer.glob("*.json"))) == 8  # kept for when the credentials are fixed
