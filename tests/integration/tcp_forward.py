#!/usr/bin/env python3
"""tcp_forward.py LISTEN_PORT TARGET_PORT - forward 127.0.0.1:LISTEN_PORT to
127.0.0.1:TARGET_PORT, a thread pair per connection.  Killing it cuts every
connection through it: a network between a client and its server that
goes away while both ends stay up (relay_partition.sh)."""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        try:
            s = socket.create_connection(("127.0.0.1", target))
        except OSError:
            c.close()
            continue
        for a, b in ((c, s), (s, c)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
