#!/usr/bin/env python3
"""A minimal EOS eAPI stand-in on a unix socket, for the chroot test of the static binary.

It answers `POST /command-api` JSON-RPC `runCmds` from the recorded samples in
tests/fixtures/eos, one sample per known command, and an EOS-style error 1002 (HTTP 200)
for any other command. The full simulator lives in e2e/; this file only has to prove that the
static binary reaches a unix socket and parses a real reply with nothing from the host.

    eapi-fixture-server.py SOCKET_PATH FIXTURE_DIR
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

ANSWERS = {
    "show ip bgp summary vrf all": "napalm-2024-show_ip_bgp_summary_vrf_all.json",
    "show ipv6 bgp summary vrf all": "napalm-eos4.30.5M-asdot-linklocal-show_ipv6_bgp_summary_vrf_all.json",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        results = []
        reply = None
        for cmd in body["params"]["cmds"]:
            name = cmd["cmd"] if isinstance(cmd, dict) else cmd
            sample = ANSWERS.get(name)
            if sample is None:
                reply = {"jsonrpc": "2.0", "id": body.get("id"), "error": {
                    "code": 1002, "message": f"CLI command 1 of 1 '{name}' failed: invalid command",
                    "data": results + [{"errors": ["Invalid input"]}]}}
                break
            with open(os.path.join(FIXTURES, sample)) as f:
                results.append(json.load(f))
        if reply is None:
            reply = {"jsonrpc": "2.0", "id": body.get("id"), "result": results}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write("eapi-fixture-server: " + (fmt % args) + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    path, FIXTURES = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Handler) as server:
        print("ready", flush=True)
        server.serve_forever()
