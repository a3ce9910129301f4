"""TlsStream with no socket: two streams, a client and a server, hand each other bytes in
memory.  And the contexts: what makes a certificate, key or CA file unusable, in one line."""

import ssl

import pytest
from hypothesis import given, strategies as st

from helpers import TlsFiles, tls_files
from tcpchat.transports.tls import (ENCRYPT_CHUNK, TlsSetupError, TlsStream, client_context,
                         error_reason, server_context)


def pair():
    """A server stream and a client stream, not yet introduced."""
    files = tls_files()
    server = TlsStream(server_context(files.cert_file, files.key_file))
    client = TlsStream(files.client_context(), server_hostname="localhost")
    return server, client


def handshake(server, client):
    client.start()
    while not (server.handshaken and client.handshaken):
        for sender, receiver in ((client, server), (server, client)):
            if sender.wants_to_send:
                assert receiver.receive(sender.take_outgoing()) == b""
    while server.wants_to_send:  # session tickets, after the handshake
        assert client.receive(server.take_outgoing()) == b""


def test_handshake_then_plaintext_both_ways():
    server, client = pair()
    assert repr(server) == "<TlsStream handshaking>"
    handshake(server, client)
    assert server.version in ("TLSv1.2", "TLSv1.3") and server.cipher
    client.send(b"NICK alice\r\n")
    assert server.receive(client.take_outgoing()) == b"NICK alice\r\n"
    server.send(b":tcpchat 001 alice :Welcome\r\n")
    assert client.receive(server.take_outgoing()) == b":tcpchat 001 alice :Welcome\r\n"
    assert not server.ended and not client.ended


@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=30))
def test_however_the_bytes_are_cut_every_plaintext_byte_comes_out_once_in_order(cuts):
    server, client = pair()
    handshake(server, client)
    sent = b"".join(b"PRIVMSG #lobby :%d\r\n" % number for number in range(2000))
    client.send(sent)
    data = client.take_outgoing()
    received, start = b"", 0
    for cut in cuts:
        received += server.receive(data[start:start + cut])
        start += cut
    received += server.receive(data[start:]) if start < len(data) else b""
    assert received == sent


def test_many_records_in_one_receive_give_all_their_plaintext():
    server, client = pair()
    handshake(server, client)
    for number in range(50):
        client.send(b"line %d\r\n" % number)  # a record each
    assert server.receive(client.take_outgoing()) == b"".join(b"line %d\r\n" % number
                                                              for number in range(50))


def test_a_close_notify_ends_the_stream_and_plaintext_before_it_is_kept():
    server, client = pair()
    handshake(server, client)
    server.send(b"ERROR :Closing link\r\n")
    server.close()
    server.close()  # once only
    assert client.receive(server.take_outgoing()) == b"ERROR :Closing link\r\n"
    assert client.ended


def test_the_end_of_the_stream_without_a_close_notify_is_an_end_too():
    server, client = pair()
    handshake(server, client)
    client.send(b"PRIVMSG #lobby :whole\r\nPRIVMSG #lobby :cut")
    data = client.take_outgoing()
    assert server.receive(data) == b"PRIVMSG #lobby :whole\r\nPRIVMSG #lobby :cut"
    assert server.receive(b"") == b"" and server.ended
    server.send(b"ERROR :Closing link: Connection closed\r\n")  # and it can still answer
    assert client.receive(server.take_outgoing()).startswith(b"ERROR")


def test_a_stream_cut_mid_record_loses_that_record_only():
    server, client = pair()
    handshake(server, client)
    client.send(b"first\r\n")
    client.send(b"second\r\n")
    data = client.take_outgoing()
    first_record = 5 + int.from_bytes(data[3:5], "big")
    assert server.receive(data[:first_record + 10]) == b"first\r\n"
    assert server.receive(b"") == b"" and server.ended


@pytest.mark.parametrize("data, spoke_tls", [
    (b"NICK alice\r\n", False),                     # an IRC client without TLS
    (b"GET / HTTP/1.1\r\n\r\n", False),             # a browser
    (b"\x16\x03\x01\x00\x04junk", True),             # TLS's first byte, then nonsense
])
def test_what_is_not_tls_raises_and_says_whether_it_looked_like_tls(data, spoke_tls):
    server, _ = pair()
    with pytest.raises(ssl.SSLError):
        server.receive(data)
    assert server.spoke_tls is spoke_tls


def test_the_end_of_the_stream_during_the_handshake_raises():
    server, client = pair()
    client.start()
    server.receive(client.take_outgoing()[:20])
    with pytest.raises(ssl.SSLError) as raised:
        server.receive(b"")
    assert error_reason(raised.value) == "the peer closed the connection"


def test_an_untrusted_server_fails_the_clients_handshake(tmp_path):
    server, _ = pair()
    stranger = TlsStream(TlsFiles(str(tmp_path)).client_context(), server_hostname="localhost")
    stranger.start()
    server.receive(stranger.take_outgoing())
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.receive(server.take_outgoing())
    with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
        server.receive(stranger.take_outgoing())  # the alert it sent says why


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_old_protocol_versions_are_refused():
    files = tls_files()
    server = TlsStream(server_context(files.cert_file, files.key_file))
    old = files.client_context()
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 at this level only
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    client = TlsStream(old, server_hostname="localhost")
    client.start()
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):
        server.receive(client.take_outgoing())


def test_encryption_is_chunked_by_the_drivers_not_the_stream():
    """The stream encrypts all it is given; ENCRYPT_CHUNK is the drivers' bound, and one
    chunk fits the records of one send() of the select loop."""
    server, client = pair()
    handshake(server, client)
    server.send(b"x" * ENCRYPT_CHUNK)
    assert client.receive(server.take_outgoing()) == b"x" * ENCRYPT_CHUNK


# -- Contexts --------------------------------------------------------------------------------

def test_an_encrypted_key_is_refused_not_prompted_for(tmp_path):
    from cryptography.hazmat.primitives import serialization
    files = tls_files()
    key = serialization.load_pem_private_key(open(files.key_file, "rb").read(), None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"sesame")))
    with pytest.raises(TlsSetupError, match="the key is encrypted; give one without a "
                                            "passphrase"):
        server_context(files.cert_file, str(encrypted))


def test_a_garbled_certificate_is_named(tmp_path):
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
    with pytest.raises(TlsSetupError, match=f"--tls-cert {garbled}, --tls-key .*: OpenSSL "
                                            "cannot load them"):
        server_context(str(garbled), tls_files().key_file)


def test_a_ca_file_that_is_not_one(tmp_path):
    (tmp_path / "ca.pem").write_text("nothing here")
    with pytest.raises(TlsSetupError, match=f"^--ca {tmp_path / 'ca.pem'}: "):
        client_context(str(tmp_path / "ca.pem"))


def test_insecure_checks_nothing():
    context = client_context(insecure=True)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
