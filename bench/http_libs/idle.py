#!/usr/bin/python3
"""Holds N keep-alive connections to 127.0.0.1:PORT, each after one answered request, and
prints the RSS and thread count of process PID before and after (bench/RESULTS.md §6).

Usage: /usr/bin/python3 bench/http_libs/idle.py PORT N PID
"""
import resource
import socket
import sys
import time

port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],)*2)
def rss(): return int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]) * 1024
def threads(): return int(open(f"/proc/{pid}/status").read().split("Threads:")[1].split()[0])
before = rss()
socks = []
req = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
t0 = time.time()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(req); socks.append(s)
got = 0
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data: data += s.recv(4096)
    got += data.startswith(b"HTTP/1.1 200")
after = rss()
print(f"{n} idle keep-alive connections ({got} answered 200 in {time.time()-t0:.1f}s): RSS {before/2**20:.1f} -> {after/2**20:.1f} MiB (+{(after-before)/2**20:.1f}), threads {threads()}")
