"""TLS for the drivers and the reference client: the ``ssl`` module's TLS as a sans-IO stream.

A :class:`TlsStream` is one TLS connection held in memory (an ``ssl.SSLObject`` between two
``ssl.MemoryBIO`` buffers).  The driver hands it the bytes it read from the socket and gets
plaintext back; it hands it plaintext and gets back the bytes to write.  The stream never
touches a socket, so one object serves the select loop (non-blocking), the threads backend and
the client (blocking), and what TLS wants of the socket is always in plain sight:

- a read that needs a write (handshake messages, a TLS 1.3 session ticket or key update):
  :attr:`TlsStream.wants_to_send` is true after :meth:`TlsStream.receive`;
- plaintext already decrypted inside TLS that no selector event would announce: there is
  none, because :meth:`~TlsStream.receive` returns all the plaintext its bytes complete;
- a close that needs a ``close_notify``: :meth:`~TlsStream.close` queues it, to be sent like
  any other output.

It is also the one way to use TLS from two threads (the client's reader and writer, the
threads backend's): an ``ssl.SSLSocket`` must not be read in one thread while written in
another, but a TlsStream is only ever touched under its owner's lock, and the socket calls are
made outside it.

Modern defaults only: TLS 1.2 and up, the ``ssl`` module's default ciphers, no renegotiation.
"""

import hashlib
import logging
import ssl

from ..text.catalog import N_, _

log = logging.getLogger("tcpchat")

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
#: Seconds a new connection has to finish its TLS handshake before it is dropped.
HANDSHAKE_TIMEOUT = 10.0
#: Plaintext encrypted at a time.  A driver encrypts more only once what it encrypted before is
#: in the kernel's hands, so a slow reader's output waits as plaintext, counted by the send
#: queue bound, and at most this much (plus TLS's overhead) waits encrypted.
ENCRYPT_CHUNK = 1 << 16
#: Every TLS connection begins with a handshake record (type 22).
_HANDSHAKE_RECORD = 0x16


class TlsSetupError(Exception):
    """A certificate, key or CA file that cannot be used; the message is one line for the
    command line."""


def _harden(context):
    context.minimum_version = MINIMUM_VERSION
    # Renegotiation (TLS 1.2) lets a client make the server redo costly handshake work at
    # will, and nothing here needs it.
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    # A peer that ends its stream without a close_notify (most IRC clients, a TCP half-close)
    # is at its end of input, as over plain TCP: what it sent is read and it may still be
    # answered.  Without this, OpenSSL 3 fails the whole connection, replies and all.  (A cut
    # made at a line's end could pass for a whole conversation either way: a reset does that.)
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)


def server_context(cert_file, key_file, client_anchors=""):
    """A server-side context with the certificate chain in *cert_file* and its private key in
    *key_file* (PEM files; one file may hold both).  With *client_anchors* (PEM certificates
    that accounts added, for SASL EXTERNAL), a client may show one of them: it is asked for a
    certificate, which must then be one of those (see docs/accounts.rst).  Raises
    :class:`TlsSetupError`."""
    for option, path, marker, missing in (
            ("--tls-cert", cert_file, "-----BEGIN CERTIFICATE-----",
             N_("{option} {path}: there is no PEM certificate in it")),
            ("--tls-key", key_file, "PRIVATE KEY-----",
             N_("{option} {path}: there is no PEM private key in it"))):
        try:
            with open(path, encoding="ascii", errors="replace") as file:
                text = file.read()
        except OSError as exc:
            raise TlsSetupError(_("{option} {path}: {error}", option=option, path=path,
                                  error=exc.strerror)) from None
        if marker not in text:
            raise TlsSetupError(_(missing, option=option, path=path))

    def no_passphrase():
        raise TlsSetupError(_("--tls-key {key_file}: the key is encrypted; give one without a "
                              "passphrase (openssl pkey -in KEY -out PLAIN_KEY)",
                              key_file=key_file))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    try:
        context.load_cert_chain(cert_file, key_file, password=no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsSetupError(_("--tls-key {key_file}: not the key of the certificate in "
                                  "--tls-cert {cert_file}", key_file=key_file,
                                  cert_file=cert_file)) from None
        raise TlsSetupError(_("--tls-cert {cert_file}, --tls-key {key_file}: OpenSSL cannot load "
                              "them ({error})", cert_file=cert_file, key_file=key_file,
                              error=exc)) from None
    if client_anchors:
        # Python's ssl cannot ask for "any" certificate: each one a client may show must be
        # a trust anchor here, each its own (a self-signed one, as users make them).
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        try:
            context.load_verify_locations(cadata=client_anchors)
        except ssl.SSLError as exc:
            raise TlsSetupError(_("the accounts' client certificates: OpenSSL cannot load "
                                  "them ({error})", error=exc)) from None
    return context


def client_context(ca_file=None, insecure=False):
    """A client-side context: it trusts the system's CAs, or those in *ca_file*; with
    *insecure*, it checks nothing (for a test server's self-signed certificate).  Raises
    :class:`TlsSetupError`."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise TlsSetupError(_("--ca {ca_file}: {reason}", ca_file=ca_file, reason=reason)) from None
    _harden(context)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Certificates:
    """The server's certificate and key files, and the context made from them.  Drivers take
    :attr:`context` for each new connection, so after :meth:`reload` new connections get the
    new certificate while those already open keep theirs."""

    def __init__(self, cert_file, key_file):
        self.cert_file = cert_file
        self.key_file = key_file
        #: Gives the PEM certificates clients may log in with (SASL EXTERNAL), "" for none.
        self.client_anchors = str
        self.context = server_context(cert_file, key_file)

    def trust_clients(self, anchors):
        """Take *anchors()* (see :attr:`client_anchors`) into this context and each reload's.
        Raises :class:`TlsSetupError`."""
        self.client_anchors = anchors
        self.context = server_context(self.cert_file, self.key_file, anchors())

    def reload(self):
        """Read the files again (a renewed certificate, say); if they are not usable, keep
        the context in use and say why.  Returns whether the new files took effect."""
        try:
            self.context = server_context(self.cert_file, self.key_file, self.client_anchors())
        except TlsSetupError as exc:
            log.error("certificate not reloaded, the one in use stays: %s", exc)
            return False
        log.info("certificate reloaded from %s", self.cert_file)
        return True


def error_reason(exc):
    """An ``ssl.SSLError`` in a few words, for a log line or a QUIT: OpenSSL's name for it."""
    if exc.reason:
        return exc.reason
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return _("the peer closed the connection")
    return type(exc).__name__


class TlsStream:
    """One TLS connection in memory: ciphertext in and out, plaintext in and out.

    *server_hostname* None makes the server side; a name makes the client side, which checks
    the server's certificate for it (as *context* says).
    """

    __slots__ = ("_incoming", "_outgoing", "_tls", "handshaken", "ended", "_closed",
                 "_first_byte")

    def __init__(self, context, server_hostname=None):
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_side=server_hostname is None,
                                     server_hostname=server_hostname)
        #: The handshake is done: plaintext may flow both ways.
        self.handshaken = False
        #: The peer will send nothing more (its close_notify, or the end of its stream).
        self.ended = False
        self._closed = False
        self._first_byte = None

    def __repr__(self):
        state = f"{self.version} {self.cipher}" if self.handshaken else "handshaking"
        return f"<TlsStream {state}>"

    @property
    def version(self):
        return self._tls.version()

    @property
    def cipher(self):
        return self._tls.cipher()[0] if self.handshaken else None

    @property
    def certfp(self):
        """The SHA-256 fingerprint (hex) of the certificate the peer showed, or None."""
        der = self._tls.getpeercert(binary_form=True) if self.handshaken else None
        return hashlib.sha256(der).hexdigest() if der else None

    @property
    def spoke_tls(self):
        """Whether what the peer sent first could begin a TLS handshake (a plaintext IRC or
        HTTP client sends letters)."""
        return self._first_byte in (None, _HANDSHAKE_RECORD)

    def start(self):
        """Client side: begin the handshake (the ClientHello is then in the output)."""
        self._handshake()

    def receive(self, data):
        """Bytes read from the socket (``b""`` at the end of its stream); return the plaintext
        they complete, ``b""`` if none.  Raises ``ssl.SSLError`` if the peer does not speak
        TLS, fails the handshake (or ends its stream before the handshake is done) or breaks
        the stream."""
        if data:
            if self._first_byte is None:
                self._first_byte = data[0]
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        if not self.handshaken and not self._handshake():
            return b""
        chunks = []
        while not self.ended:
            try:
                chunk = self._tls.read(ENCRYPT_CHUNK)
            except ssl.SSLWantReadError:
                break  # the rest of a record is still on its way
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""
            if not chunk:
                # A close_notify, or a stream cut short without one: either way, the end.
                # What a cut-off record held is lost, as the rest of a cut TCP line is.
                self.ended = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _handshake(self):
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshaken = True
        return True

    def send(self, plaintext):
        """Encrypt *plaintext* (after the handshake); the records wait in the output."""
        self._tls.write(plaintext)

    def decrypt_into(self, data, feed):
        """:meth:`receive` *data* (bytes read from the socket), and hand what it completes to
        *feed*: the plaintext, then ``b""`` once the peer will send no more.  Raises
        ``ssl.SSLError`` as :meth:`receive` does (*feed* is the driver's, guarded as it
        guards any core call).

        The one decrypting step of every driver, as :meth:`encrypt_from` is the encrypting
        one.
        """
        plaintext = self.receive(data)
        if plaintext:
            feed(plaintext)
        if self.ended:
            feed(b"")

    def encrypt_from(self, stream):
        """Encrypt the next of *stream*'s output, taken with the stream operations
        (``pending``, ``data_to_send``, ``sent``): at most :data:`ENCRYPT_CHUNK` bytes, so that
        a slow reader's backlog waits as plaintext, under the send queue bound; or, once the
        stream is closing with nothing left, the close_notify.  Returns every record waiting
        to be written (``b""`` if none).  Raises ``ssl.SSLError`` if the TLS stream is broken.

        The one encrypting step of every driver: the select loop calls it until the socket's
        buffer is full, the threads backend's writer once per ``sendall``.
        """
        if stream.pending:
            data = stream.data_to_send()
            count = min(len(data), ENCRYPT_CHUNK)
            self.send(data if count == len(data) else data[:count])
            stream.sent(count)
        elif stream.closing:
            self.close()
        return self.take_outgoing() if self.wants_to_send else b""

    @property
    def wants_to_send(self):
        return self._outgoing.pending > 0

    def take_outgoing(self):
        """Every encrypted byte waiting to be written to the socket."""
        return self._outgoing.read()

    def close(self):
        """Queue a close_notify, once.  The peer's answer is not waited for: once it is sent,
        the driver closes the socket."""
        if self._closed or not self.handshaken:
            return
        self._closed = True
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # it would wait for the peer's close_notify; ours is in the output
        except ssl.SSLError:
            pass  # the stream is broken already: there is nothing to say goodbye over
