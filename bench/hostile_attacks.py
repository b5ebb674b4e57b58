"""The hostile-input issue's three attacks against one gateway binary, with what happened: for
before/after figures (tests/integration/test_hostile.py asserts the same on every build).

  /usr/bin/python3 bench/hostile_attacks.py build/bin/ollama-gateway after
  /usr/bin/python3 bench/hostile_attacks.py /path/to/old/ollama-gateway before

The backend is this tree's ollama-sim (build/bin), whose /sim/requests shows what it received.
"""
import http.client
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

EMAIL_RULE = ("redaction:\n  rules:\n    - name: email\n"
              "      pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}'\n"
              "      replacement: '[EMAIL]'\n")


def start(binary, sim):
    config = harness.gateway_config(
        [("gpu-a", sim.url, None)],
        extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n" + EMAIL_RULE)
    path = harness.write_file(tempfile.mkdtemp(), "gateway.yaml",
                              config.replace("level: debug", "level: warn"))
    gw = harness.Process([binary, "--config", path], "gateway")
    host, port = dict(kv.split("=", 1) for kv in gw.first_line.split()[1:])["http"].rsplit(":", 1)
    time.sleep(1.5)  # the first health checks
    return gw, host, int(port)


def post(host, port, path, body):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__


def main(binary, label):
    sim = harness.Sim("gpu-a", models=("llama3.2",), tokens=4)
    gw, host, port = start(binary, sim)
    try:
        deep = "[" * 200_000 + "]" * 200_000
        body = ('{"model":"llama3.2","messages":[{"role":"user","content":"x"}],'
                '"response_format":{"type":"json_schema","json_schema":{"schema":%s}}}'
                % deep).encode()
        started = time.monotonic()
        status = post(host, port, "/v1/chat/completions", body)
        print(f"{label}: deep JSON ({len(body)} bytes): {status} in "
              f"{1000 * (time.monotonic() - started):.0f} ms; gateway alive: {gw.alive()}")
        if not gw.alive():
            gw.cleanup()
            gw, host, port = start(binary, sim)

        before = harness.rss_kib(gw.proc.pid)
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n1;")
        sent, block = 0, b"a" * 65536
        try:
            while sent < (48 << 20):
                sock.sendall(block)
                sent += len(block)
        except OSError:
            pass
        time.sleep(0.5)
        grown = (harness.rss_kib(gw.proc.pid) - before) / 1024
        sock.close()
        print(f"{label}: endless chunk-size line: {sent / 2**20:.1f} of 48 MiB sent before the "
              f"gateway gave up; RSS +{grown:.1f} MiB")

        status = post(host, port, "/api/generate",
                      b'{"model":"llama3.2","Prompt":"write to bob@example.com","stream":false}')
        recent = json.loads(harness.http_get(sim.url + "/sim/requests")[1])
        got = [r["body"] for r in recent if r["path"] == "/api/generate"]
        print(f"{label}: \"Prompt\" with an e-mail: {status}; the backend received "
              f"{got[-1] if got else 'nothing'}")
    finally:
        gw.cleanup()
        sim.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
