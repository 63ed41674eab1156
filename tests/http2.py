"""HTTP/2 paths httpx does not take: the h2c ``Upgrade`` and WebSockets over
HTTP/2 (RFC 8441 extended CONNECT), spoken with the ``h2`` state machine over
a plain socket, and ``wsproto`` for the WebSocket frames inside the stream."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.frame_protocol import FrameProtocol, Opcode

TIMEOUT = 10


class H2Stream:
    """One HTTP/2 connection on a blocking socket, driven by ``h2``."""

    def __init__(self, sock: socket.socket, connection: h2.connection.H2Connection):
        self.sock = sock
        self.connection = connection
        self.server_settings: dict[int, int] = {}

    def flush(self) -> None:
        self.sock.sendall(self.connection.data_to_send())

    def events(self) -> list[h2.events.Event]:
        """Read once from the socket; return the events it carried."""
        data = self.sock.recv(65535)
        if not data:
            raise ConnectionError("the server closed the connection")
        events = self.connection.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.server_settings.update(
                    {int(k): v.new_value for k, v in event.changed_settings.items()}
                )
            elif isinstance(event, h2.events.DataReceived):
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
        self.flush()
        return events

    def response_headers(self, stream_id: int) -> dict[str, str]:
        """Wait for the response headers of *stream_id*."""
        while True:
            for event in self.events():
                if (
                    isinstance(event, h2.events.ResponseReceived)
                    and event.stream_id == stream_id
                ):
                    return {k.decode(): v.decode() for k, v in event.headers}
                if isinstance(event, h2.events.StreamReset):
                    raise AssertionError(f"stream reset: {event.error_code!r}")


def h2c_upgrade(host: str, port: int, path: str) -> tuple[str, dict[str, str], bytes]:
    """GET *path* with ``Upgrade: h2c``; return the first status line, and the
    HTTP/2 response's headers and body (stream 1, as RFC 7540 §3.2 says)."""
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    settings = connection.initiate_upgrade_connection()  # already base64url
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        f"HTTP2-Settings: {settings.decode()}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65535)
            if not chunk:
                break
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode()
        if not status_line.startswith("HTTP/1.1 101"):
            return status_line, {}, b""
        stream = H2Stream(sock, connection)
        stream.flush()  # the client's connection preface
        events = connection.receive_data(rest) if rest else []
        headers: dict[str, str] = {}
        chunks: list[bytes] = []
        while True:
            for event in events:
                if getattr(event, "stream_id", None) != 1:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                elif isinstance(event, h2.events.StreamEnded):
                    return status_line, headers, b"".join(chunks)
            stream.flush()
            events = stream.events()


class H2WebSocket:
    """A WebSocket inside one HTTP/2 stream (RFC 8441)."""

    def __init__(self, stream: H2Stream, stream_id: int) -> None:
        self.stream = stream
        self.stream_id = stream_id
        self.frames = FrameProtocol(client=True, extensions=[])
        self.pending: list[Any] = []

    def send_json(self, value: Any) -> None:
        data = self.frames.send_data(json.dumps(value), fin=True)
        self.stream.connection.send_data(self.stream_id, data)
        self.stream.flush()

    def receive_message(self, text: str) -> Any:
        """The next ``message`` frame whose text is *text* (the broker may
        still deliver messages posted before this socket subscribed)."""
        while True:
            frame = self.receive_json()
            if frame["type"] == "message" and frame["data"]["text"] == text:
                return frame

    def receive_json(self) -> Any:
        """The next text frame, decoded as JSON."""
        while not self.pending:
            for event in self.stream.events():
                if (
                    isinstance(event, h2.events.DataReceived)
                    and event.stream_id == self.stream_id
                ):
                    self.frames.receive_bytes(event.data)
                    self.pending.extend(self.frames.received_frames())
        frame = self.pending.pop(0)
        assert frame.opcode is Opcode.TEXT, frame
        return json.loads(frame.payload)


@contextmanager
def tls_h2_connection(host: str, port: int, ca_file: str) -> Iterator[H2Stream]:
    """An HTTP/2 connection over TLS (ALPN ``h2``) on *port*, once the
    server's first SETTINGS have arrived."""
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "h2"
        connection = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True)
        )
        connection.initiate_connection()
        stream = H2Stream(sock, connection)
        stream.flush()
        while not any(
            isinstance(event, h2.events.RemoteSettingsChanged)
            for event in stream.events()
        ):
            pass
        yield stream


def tls_server_settings(host: str, port: int, ca_file: str) -> dict[int, int]:
    """The SETTINGS an HTTP/2 server sends first on the TLS port."""
    with tls_h2_connection(host, port, ca_file) as stream:
        return stream.server_settings


@contextmanager
def websocket_over_h2(
    host: str, port: int, ca_file: str, path: str
) -> Iterator[H2WebSocket]:
    """Open *path* as a WebSocket over HTTP/2 on the TLS port."""
    with tls_h2_connection(host, port, ca_file) as stream:
        settings = stream.server_settings
        assert settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL), settings
        connection = stream.connection
        stream_id = connection.get_next_available_stream_id()
        connection.send_headers(
            stream_id,
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":path", path),
                (":authority", f"localhost:{port}"),
                ("sec-websocket-version", "13"),
            ],
        )
        stream.flush()
        headers = stream.response_headers(stream_id)
        assert headers[":status"] == "200", headers
        yield H2WebSocket(stream, stream_id)
