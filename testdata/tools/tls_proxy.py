#!/usr/bin/env python3
"""A TLS-terminating TCP proxy for tests: accepts TLS on loopback and forwards the decrypted
bytes to a plain TCP backend (an `interdict serve`), both ways.

    tls_proxy.py --cert server.pem --key server.key --backend 127.0.0.1:8080

Listens on 127.0.0.1 on a free port and prints one line, `listening on 127.0.0.1:PORT`, once
it accepts connections. It exits when its standard input is closed (the test that started it
is gone) or on SIGTERM. A failed handshake (a client that does not trust the certificate)
closes that connection only.
"""

import argparse
import asyncio
import os
import ssl
import sys
import threading


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass


async def handle(client_reader, client_writer, backend_host, backend_port):
    try:
        backend_reader, backend_writer = await asyncio.open_connection(backend_host, backend_port)
    except OSError as e:
        print(f"tls_proxy: backend {backend_host}:{backend_port}: {e}", file=sys.stderr, flush=True)
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, backend_writer),
        pipe(backend_reader, client_writer),
    )
    for w in (client_writer, backend_writer):
        try:
            w.close()
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError, OSError):
            pass


def report(loop, context):
    exc = context.get("exception")
    print(f"tls_proxy: {context.get('message')}: {exc!r}", file=sys.stderr, flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    ap.add_argument("--key", required=True, help="its private key (PEM)")
    ap.add_argument("--backend", required=True, help="HOST:PORT of the plain TCP server")
    args = ap.parse_args()
    host, _, port = args.backend.rpartition(":")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(report)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, host, int(port)), "127.0.0.1", 0, ssl=ctx
    )
    addr = server.sockets[0].getsockname()
    print(f"listening on {addr[0]}:{addr[1]}", flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
