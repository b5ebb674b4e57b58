"""ollama-sim seen from a client: every endpoint, NDJSON streaming line by line, the exact error
bodies of Ollama, the deterministic text (recomputed here from docs/ollama-sim.md), load and
unload replies, the /sim/config knobs and the /sim/stats counters.

Timing is only ever checked as a lower bound or as an order of events, never as an upper bound.
"""
import http.client
import json
import math
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import fnv1a64, sim_tokens as tokens

BUSY = "server busy, please try again.  maximum pending requests exceeded"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
METRICS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
           "eval_count", "eval_duration")


def embedding(text, dims=16):
    raw = [(fnv1a64(f"{text}#{j}".encode()) % 2001) / 1000.0 - 1.0 for j in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


class SimTestCase(harness.ProcessTestCase):
    """Helpers for talking HTTP to one simulator."""

    def start(self, name="sim", **kw):
        self.s = self.sim(name, **kw)
        return self.s

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """Returns (status, content type, body bytes) of one request on a fresh connection."""
        conn = self.conn()
        try:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type"), resp.read()
        finally:
            conn.close()

    def post_json(self, path, body):
        status, ctype, data = self.request("POST", path, body)
        return status, ctype, json.loads(data) if data else None

    def stream(self, path, body):
        """Opens a streaming request; returns (connection, response)."""
        conn = self.conn()
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        return conn, conn.getresponse()

    def tags(self):
        status, _, data = self.request("GET", "/api/tags")
        self.assertEqual(status, 200)
        return {m["name"]: m for m in json.loads(data)["models"]}

    def stats(self):
        status, _, data = self.request("GET", "/sim/stats")
        self.assertEqual(status, 200)
        return json.loads(data)

    def configure(self, **knobs):
        status, ctype, reply = self.post_json("/sim/config", knobs)
        self.assertEqual(status, 200, reply)
        self.assertEqual(ctype, JSON_TYPE)
        return reply

    def wait_for_stats(self, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.02)

    def raw_request(self, path, body):
        """Sends a POST on a plain socket and returns the socket (for disconnect tests)."""
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=30)
        data = json.dumps(body).encode()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                     f"\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        return sock

    def check_final(self, final, prompt, eval_count, reason="stop"):
        self.assertTrue(final["done"])
        self.assertEqual(final["done_reason"], reason)
        for key in METRICS:
            self.assertIsInstance(final[key], int, key)
            self.assertGreater(final[key], 0, key)
        self.assertEqual(final["eval_count"], eval_count)
        self.assertEqual(final["prompt_eval_count"], max(1, len(prompt.split())))
        self.assertGreaterEqual(final["total_duration"], final["load_duration"])
        self.assertGreaterEqual(final["total_duration"], final["eval_duration"])


class MetadataEndpoints(SimTestCase):

    def test_root_answers_plain_text_to_get_and_head(self):
        self.start()
        self.assertEqual(self.request("GET", "/"), (200, TEXT_TYPE, b"Ollama is running"))
        status, ctype, body = self.request("HEAD", "/")
        self.assertEqual((status, ctype, body), (200, TEXT_TYPE, b""))

    def test_version_reports_the_flag(self):
        self.start()
        status, ctype, body = self.request("GET", "/api/version")
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        self.assertEqual(json.loads(body), {"version": "0.33.0"})
        self.s.stop()
        self.start("v2", extra=("--version", "1.2.3"))
        self.assertEqual(json.loads(self.request("GET", "/api/version")[2]), {"version": "1.2.3"})

    def test_tags_lists_every_model_with_realistic_fields(self):
        self.start(models=("llama3.2", "Qwen2.5:7b", "all-minilm"))
        status, ctype, body = self.request("GET", "/api/tags")
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        models = json.loads(body)["models"]
        self.assertEqual([m["name"] for m in models],
                         ["llama3.2:latest", "Qwen2.5:7b", "all-minilm:latest"])
        for m in models:
            self.assertEqual(m["model"], m["name"])
            self.assertRegex(m["modified_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
            self.assertGreater(m["size"], 0)
            self.assertRegex(m["digest"], r"^[0-9a-f]{64}$")
            for key in ("format", "family", "families", "parameter_size", "quantization_level"):
                self.assertIn(key, m["details"])
        self.assertEqual(models[1]["details"]["parameter_size"], "7.0B")
        self.assertEqual(models[2]["capabilities"], ["embedding"])

    def test_unknown_path_is_404_and_wrong_method_is_405_in_plain_text(self):
        self.start()
        self.assertEqual(self.request("GET", "/api/nope"), (404, TEXT_TYPE, b"404 page not found"))
        self.assertEqual(self.request("GET", "/api/generate"),
                         (405, TEXT_TYPE, b"405 method not allowed"))
        self.assertEqual(self.request("POST", "/api/tags", b"{}"),
                         (405, TEXT_TYPE, b"405 method not allowed"))

    def test_show_describes_a_model(self):
        self.start()
        status, ctype, reply = self.post_json("/api/show", {"model": "LLAMA3.2"})
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        for key in ("modelfile", "parameters", "template", "details", "model_info",
                    "capabilities", "modified_at", "license"):
            self.assertIn(key, reply)
        self.assertEqual(reply["model_info"]["general.architecture"], "llama")
        self.assertEqual(self.post_json("/api/show", {"name": "llama3.2"})[0], 200)


class Generation(SimTestCase):

    def test_generate_streams_ndjson_lines_with_the_deterministic_text(self):
        self.start(name="alpha", tokens=6, token_delay_ms=40)
        prompt = "Why is the sky blue?"
        conn, resp = self.stream("/api/generate", {"model": "Llama3.2", "prompt": prompt})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/x-ndjson")
        self.assertEqual(resp.getheader("Transfer-Encoding"), "chunked")
        lines, arrival = [], []
        while True:
            line = resp.readline()
            if not line:
                break
            self.assertTrue(line.endswith(b"\n"), line)
            lines.append(json.loads(line))
            arrival.append(time.monotonic())
        conn.close()
        expected = tokens("alpha", prompt, 6)
        self.assertEqual([c["response"] for c in lines[:-1]], expected)
        for chunk in lines[:-1]:
            self.assertEqual(chunk["model"], "Llama3.2")  # echoed exactly as sent
            self.assertFalse(chunk["done"])
            self.assertNotIn("eval_count", chunk)
            self.assertRegex(chunk["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        final = lines[-1]
        self.assertEqual(final["response"], "")
        self.check_final(final, prompt, 6)
        self.assertEqual(len(final["context"]), final["prompt_eval_count"] + 6)
        # Streaming: the first token arrived before the last, a token delay apart at least.
        self.assertLess(arrival[0], arrival[-2])
        self.assertGreaterEqual(final["eval_duration"], 5 * 40_000_000)

    def test_headers_wait_for_the_first_token(self):
        self.start(tokens=2, token_delay_ms=300)
        started = time.monotonic()
        conn, resp = self.stream("/api/generate", {"model": "llama3.2", "prompt": "x"})
        self.assertGreaterEqual(time.monotonic() - started, 0.25)
        self.assertEqual(resp.status, 200)
        resp.read()
        conn.close()

    def test_generate_without_streaming_returns_one_object(self):
        self.start(name="beta", tokens=5)
        status, ctype, reply = self.post_json(
            "/api/generate", {"model": "llama3.2", "prompt": "hello world", "stream": False})
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        self.assertEqual(reply["response"], "".join(tokens("beta", "hello world", 5)))
        self.assertEqual(reply["model"], "llama3.2")
        self.check_final(reply, "hello world", 5)

    def test_num_predict_cuts_the_generation_short_with_reason_length(self):
        self.start(name="g", tokens=10)
        _, _, reply = self.post_json("/api/generate", {
            "model": "llama3.2", "prompt": "p", "stream": False, "options": {"num_predict": 3}})
        self.assertEqual(reply["response"], "".join(tokens("g", "p", 3)))
        self.check_final(reply, "p", 3, reason="length")

    def test_chat_streams_assistant_messages_for_the_last_message(self):
        self.start(name="chatty", tokens=4)
        messages = [{"role": "system", "content": "be nice"},
                    {"role": "user", "content": "tell me <about> \"quotes\""}]
        conn, resp = self.stream("/api/chat", {"model": "llama3.2", "messages": messages})
        self.assertEqual(resp.getheader("Content-Type"), "application/x-ndjson")
        chunks = [json.loads(line) for line in resp.read().splitlines()]
        conn.close()
        self.assertEqual([c["message"]["content"] for c in chunks[:-1]],
                         tokens("chatty", messages[-1]["content"], 4))
        for chunk in chunks:
            self.assertEqual(chunk["message"]["role"], "assistant")
        self.assertEqual(chunks[-1]["message"]["content"], "")
        self.check_final(chunks[-1], messages[-1]["content"], 4)
        self.assertNotIn("context", chunks[-1])

    def test_chat_without_streaming_joins_the_content(self):
        self.start(name="c", tokens=3)
        _, _, reply = self.post_json("/api/chat", {
            "model": "llama3.2", "stream": False, "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(reply["message"], {"role": "assistant",
                                            "content": "".join(tokens("c", "hi", 3))})
        self.check_final(reply, "hi", 3)

    def test_parallel_slots_make_later_requests_wait_their_turn(self):
        self.start(tokens=4, token_delay_ms=30, extra=("--parallel", "1"))
        conn_a, resp_a = self.stream("/api/generate", {"model": "llama3.2", "prompt": "a"})
        resp_a.readline()  # a holds the only slot now
        result = {}

        def second():
            conn_b, resp_b = self.stream("/api/generate", {"model": "llama3.2", "prompt": "b"})
            resp_b.readline()
            result["b_first"] = time.monotonic()
            resp_b.read()
            conn_b.close()

        thread = threading.Thread(target=second)
        thread.start()
        resp_a.read()
        a_done = time.monotonic()
        conn_a.close()
        thread.join(30)
        self.assertGreaterEqual(result["b_first"], a_done)
        self.assertEqual(self.stats()["max_in_flight_seen"], 2)


class Errors(SimTestCase):

    def test_errors_have_ollamas_status_and_body(self):
        self.start(models=("llama3.2", "all-minilm"))
        cases = [
            ("/api/generate", b"", 400, "missing request body"),
            ("/api/generate", b"{bad", 400,
             "invalid character 'b' looking for beginning of object key string"),
            ("/api/generate", b'{"model":"llama3.2","prompt":', 400, "unexpected EOF"),
            ("/api/generate", b'{"model":"Nope","prompt":"x"}', 404, "model 'Nope' not found"),
            ("/api/generate", b'{"prompt":"x"}', 404, "model '' not found"),
            ("/api/generate", b'{"model":"llama3.2","prompt":1}', 400,
             "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type "
             "string"),
            ("/api/generate", b'{"model":"all-minilm","prompt":"x"}', 400,
             '"all-minilm" does not support generate'),
            ("/api/chat", b'{"messages":[]}', 400, "model is required"),
            ("/api/chat", b'{"model":"nope","messages":[]}', 404, "model 'nope' not found"),
            ("/api/show", b'{}', 400, "model is required"),
            ("/api/show", b'{"model":"nope"}', 404, "model 'nope:latest' not found"),
            ("/api/embed", b'{"model":"nope","input":"x"}', 404,
             'model "nope" not found, try pulling it first'),
            ("/api/embed", b'{"model":"all-minilm","input":[1]}', 400, "invalid input type"),
            ("/api/generate", b'{"model":"llama3.2","keep_alive":"soon"}', 400,
             'time: invalid duration "soon"'),
        ]
        for path, body, status, message in cases:
            with self.subTest(path=path, body=body):
                got_status, ctype, data = self.request("POST", path, body)
                self.assertEqual(got_status, status)
                self.assertEqual(ctype, JSON_TYPE)
                self.assertEqual(json.loads(data), {"error": message})

    def test_a_full_load_queue_answers_503_busy(self):
        self.start(load_delay_ms=60_000, extra=("--max-queue", "1"))
        first = self.raw_request("/api/generate", {"model": "llama3.2", "prompt": "x"})
        self.wait_for_stats(lambda s: s["generations_started"] == 1)
        status, ctype, reply = self.post_json("/api/generate",
                                              {"model": "llama3.2", "prompt": "y"})
        self.assertEqual((status, ctype, reply), (503, JSON_TYPE, {"error": BUSY}))
        first.close()
        stats = self.wait_for_stats(lambda s: s["in_flight"] == 0)
        self.assertEqual(stats["busy_rejections"], 1)
        self.assertEqual(stats["generations_aborted"], 1)
        self.assertEqual(stats["generations_failed"], 1)


class LoadAndUnload(SimTestCase):

    def test_empty_prompt_loads_and_keep_alive_zero_unloads(self):
        self.start(load_delay_ms=200)
        self.assertEqual(json.loads(self.request("GET", "/api/ps")[2]), {"models": []})
        started = time.monotonic()
        status, ctype, reply = self.post_json("/api/generate", {"model": "llama3.2"})
        self.assertGreaterEqual(time.monotonic() - started, 0.15)  # the simulated load
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        self.assertEqual(reply["done_reason"], "load")
        self.assertEqual((reply["model"], reply["response"], reply["done"]),
                         ("llama3.2", "", True))
        ps = json.loads(self.request("GET", "/api/ps")[2])["models"]
        self.assertEqual([m["name"] for m in ps], ["llama3.2:latest"])
        for key in ("size", "size_vram", "digest", "details", "expires_at", "context_length"):
            self.assertIn(key, ps[0])
        _, _, warm = self.post_json("/api/generate",
                                    {"model": "llama3.2", "prompt": "x", "stream": False})
        status, _, reply = self.post_json("/api/generate", {"model": "llama3.2", "keep_alive": 0})
        self.assertEqual((status, reply["done_reason"]), (200, "unload"))
        self.assertEqual(json.loads(self.request("GET", "/api/ps")[2]), {"models": []})
        # A cold request pays the simulated load in load_duration; a warm one does not.
        _, _, cold = self.post_json("/api/generate",
                                    {"model": "llama3.2", "prompt": "x", "stream": False})
        self.assertGreaterEqual(cold["load_duration"], 150_000_000)
        self.assertLess(warm["load_duration"], cold["load_duration"])

    def test_chat_with_empty_messages_loads_and_unloads(self):
        self.start()
        _, _, reply = self.post_json("/api/chat", {"model": "llama3.2", "messages": []})
        self.assertEqual(reply["done_reason"], "load")
        self.assertEqual(reply["message"], {"role": "assistant", "content": ""})
        _, _, reply = self.post_json("/api/chat", {"model": "llama3.2", "messages": [],
                                                   "keep_alive": "0"})
        self.assertEqual(reply["done_reason"], "unload")
        self.assertEqual(json.loads(self.request("GET", "/api/ps")[2]), {"models": []})

    def test_negative_keep_alive_keeps_the_model_forever(self):
        self.start()
        self.post_json("/api/generate", {"model": "llama3.2", "keep_alive": -1})
        ps = json.loads(self.request("GET", "/api/ps")[2])["models"]
        self.assertTrue(ps[0]["expires_at"].startswith("23"), ps[0]["expires_at"])


class Embeddings(SimTestCase):

    def test_embed_returns_deterministic_normalised_vectors(self):
        self.start(models=("all-minilm",))
        status, ctype, reply = self.post_json("/api/embed", {"model": "all-minilm",
                                                             "input": ["hello", "two words"]})
        self.assertEqual((status, ctype), (200, JSON_TYPE))
        self.assertEqual(reply["model"], "all-minilm")
        self.assertEqual(len(reply["embeddings"]), 2)
        for got, text in zip(reply["embeddings"], ["hello", "two words"]):
            for a, b in zip(got, embedding(text)):
                self.assertAlmostEqual(a, b, places=9)
        self.assertEqual(reply["prompt_eval_count"], 3)
        self.assertGreater(reply["total_duration"], 0)
        _, _, short = self.post_json("/api/embed", {"model": "all-minilm", "input": "hello",
                                                    "dimensions": 4})
        for a, b in zip(short["embeddings"][0], embedding("hello", 4)):
            self.assertAlmostEqual(a, b, places=9)
        _, _, empty = self.post_json("/api/embed", {"model": "all-minilm", "input": []})
        self.assertEqual(empty, {"model": "all-minilm", "embeddings": []})
        _, _, legacy = self.post_json("/api/embeddings", {"model": "all-minilm",
                                                          "prompt": "hello"})
        self.assertEqual(len(legacy["embedding"]), 16)


class Knobs(SimTestCase):

    def test_config_replies_with_every_knob_and_refuses_unknown_ones(self):
        self.start(tokens=7, token_delay_ms=3, load_delay_ms=4)
        status, _, knobs = self.request("GET", "/sim/config")
        self.assertEqual(json.loads(knobs), {
            "token_delay_ms": 3, "tokens": 7, "load_delay_ms": 4, "fail_status": 0,
            "fail_after_tokens": 0, "hang": False, "reset_after_tokens": 0, "api_status": 0,
            "api_delay_ms": 0, "ps_delay_ms": 0, "garbage_after_tokens": 0,
            "truncate_after_tokens": 0, "huge_line_bytes": 0, "close_mid_chunk_after_tokens": 0,
            "ignore_num_predict": False, "content_type": "", "models": None,
            "pull_delay_ms": 100, "pull_fail": [], "memory_bytes": 0, "digest_salt": "",
            "model_sizes": {}})
        self.assertEqual(self.configure(tokens=2)["tokens"], 2)
        status, _, reply = self.post_json("/sim/config", {"tokens": 3, "colour": "red"})
        self.assertEqual(status, 400)
        self.assertEqual(reply, {"error": "unknown knob 'colour'"})
        self.assertEqual(self.configure()["tokens"], 2)  # nothing applied from the bad request
        _, _, reply = self.post_json("/api/generate",
                                     {"model": "llama3.2", "prompt": "x", "stream": False})
        self.assertEqual(reply["eval_count"], 2)

    def test_fail_status_503_answers_the_busy_message_before_any_token(self):
        self.start()
        self.configure(fail_status=503)
        for path, body in (("/api/generate", {"model": "llama3.2", "prompt": "x"}),
                           ("/api/chat", {"model": "llama3.2",
                                          "messages": [{"role": "user", "content": "x"}]})):
            self.assertEqual(self.post_json(path, body), (503, JSON_TYPE, {"error": BUSY}))
        self.configure(fail_status=500)
        status, _, reply = self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x"})
        self.assertEqual(status, 500)
        self.assertIn("error", reply)
        self.configure(fail_status=0)
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x",
                                                          "stream": False})[0], 200)

    def test_fail_after_tokens_writes_an_error_line_with_status_200(self):
        self.start(name="f", tokens=5)
        self.configure(fail_after_tokens=2)
        conn, resp = self.stream("/api/generate", {"model": "llama3.2", "prompt": "p"})
        self.assertEqual(resp.status, 200)
        lines = [json.loads(line) for line in resp.read().splitlines()]  # ends cleanly
        conn.close()
        self.assertEqual([c["response"] for c in lines[:2]], tokens("f", "p", 2))
        self.assertEqual(len(lines), 3)
        self.assertEqual(list(lines[2]), ["error"])
        self.assertTrue(lines[2]["error"])
        self.assertEqual(self.stats()["generations_failed"], 1)

    def test_reset_after_tokens_cuts_the_connection_without_a_final_line(self):
        self.start(name="r", tokens=5)
        self.configure(reset_after_tokens=2)
        conn, resp = self.stream("/api/generate", {"model": "llama3.2", "prompt": "p"})
        got = [json.loads(resp.readline()), json.loads(resp.readline())]
        self.assertEqual([c["response"] for c in got], tokens("r", "p", 2))
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            rest = resp.read()
            # Some Python versions hand back what they have instead of raising.
            if not rest or b"done" not in rest:
                raise ConnectionError("stream ended without a final line")
        conn.close()

    def test_hang_holds_answers_until_it_is_turned_off(self):
        self.start(tokens=2)
        self.configure(hang=True)
        sock = self.raw_request("/api/generate", {"model": "llama3.2", "prompt": "x"})
        sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            sock.recv(1)
        self.configure(hang=False)
        sock.settimeout(30)
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertIn(b'"done":true', data)

    def test_hang_ends_when_the_client_leaves(self):
        self.start()
        self.configure(hang=True)
        sock = self.raw_request("/api/generate", {"model": "llama3.2", "prompt": "x"})
        self.wait_for_stats(lambda s: s["in_flight"] == 1)
        sock.close()
        stats = self.wait_for_stats(lambda s: s["generations_aborted"] == 1)
        self.assertEqual((stats["generations_aborted"], stats["in_flight"]), (1, 0))


class HealthKnobs(SimTestCase):
    """The knobs a gateway's health checks are tested with."""

    def test_api_status_fails_version_and_tags_while_root_answers_200(self):
        self.start()
        self.configure(api_status=503)
        for method in ("GET", "HEAD"):
            for path in ("/api/version", "/api/tags"):
                status, ctype, data = self.request(method, path)
                self.assertEqual((status, ctype), (503, JSON_TYPE), (method, path))
                if method == "GET":
                    self.assertEqual(json.loads(data),
                                     {"error": "simulated failure (api_status 503)"})
        self.assertEqual(self.request("GET", "/")[:2], (200, TEXT_TYPE))
        # Generation is not affected (that is fail_status).
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x",
                                                          "stream": False})[0], 200)
        self.configure(api_status=0)
        self.assertEqual(self.request("GET", "/api/version")[0], 200)
        self.assertEqual(self.request("GET", "/api/tags")[0], 200)

    def test_api_status_is_validated(self):
        self.start()
        for bad in (99, 600, "500", True):
            status, _, reply = self.post_json("/sim/config", {"api_status": bad, "tokens": 3})
            self.assertEqual(status, 400, bad)
            self.assertIn("api_status", reply["error"])
        self.assertEqual(self.configure()["tokens"], 8)  # nothing applied

    def test_fail_status_leaves_version_and_tags_alone(self):
        self.start()
        self.configure(fail_status=500)
        self.assertEqual(self.request("GET", "/api/version")[0], 200)
        self.assertEqual(self.request("GET", "/api/tags")[0], 200)

    def test_api_delay_ms_delays_version_and_tags(self):
        self.start()
        self.configure(api_delay_ms=300)
        for path in ("/api/version", "/api/tags"):
            start = time.monotonic()
            status, _, _ = self.request("GET", path)
            self.assertEqual(status, 200)
            self.assertGreaterEqual(time.monotonic() - start, 0.3, path)
        # The event loop is not blocked meanwhile.
        self.assertEqual(self.request("GET", "/")[0], 200)

    def test_api_delay_with_api_status_answers_the_failure_late(self):
        self.start()
        self.configure(api_delay_ms=200, api_status=500)
        start = time.monotonic()
        self.assertEqual(self.request("GET", "/api/version")[0], 500)
        self.assertGreaterEqual(time.monotonic() - start, 0.2)

    def test_a_client_leaving_during_api_delay_does_no_harm(self):
        self.start()
        self.configure(api_delay_ms=300)
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=30)
            sock.sendall(b"GET /api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.close()
        time.sleep(0.5)
        self.configure(api_delay_ms=0)
        self.assertEqual(self.request("GET", "/api/tags")[0], 200)

    def test_ps_delay_ms_delays_ps(self):
        self.start()
        self.configure(ps_delay_ms=300)
        start = time.monotonic()
        status, _, data = self.request("GET", "/api/ps")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(json.loads(data), {"models": []})

    def tag_names(self):
        status, _, data = self.request("GET", "/api/tags")
        self.assertEqual(status, 200)
        return [m["name"] for m in json.loads(data)["models"]]

    def test_models_override_replaces_the_installed_models(self):
        self.start(models=("llama3.2", "qwen2.5:7b"))
        self.assertEqual(self.tag_names(), ["llama3.2:latest", "qwen2.5:7b"])
        reply = self.configure(models=["qwen2.5:7b", "mistral", "nomic-embed-text"])
        self.assertEqual(reply["models"], ["qwen2.5:7b", "mistral", "nomic-embed-text"])
        self.assertEqual(self.tag_names(),
                         ["qwen2.5:7b", "mistral:latest", "nomic-embed-text:latest"])
        gen = {"model": "llama3.2", "prompt": "x", "stream": False}
        self.assertEqual(self.post_json("/api/generate", gen),
                         (404, JSON_TYPE, {"error": "model 'llama3.2' not found"}))
        chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}],
                "stream": False}
        self.assertEqual(self.post_json("/api/chat", chat)[0], 404)
        self.assertEqual(self.post_json("/api/show", {"model": "llama3.2"})[0], 404)
        self.assertEqual(self.post_json("/api/show", {"model": "mistral"})[0], 200)
        self.assertEqual(self.post_json("/api/generate", {"model": "mistral", "prompt": "x",
                                                          "stream": False})[0], 200)
        self.assertEqual(self.post_json("/api/embed", {"model": "nomic-embed-text",
                                                       "input": "hi"})[0], 200)
        self.assertEqual(self.configure(models=None)["models"], None)
        self.assertEqual(self.tag_names(), ["llama3.2:latest", "qwen2.5:7b"])
        self.assertEqual(self.post_json("/api/generate", gen)[0], 200)
        self.assertEqual(self.post_json("/api/generate", {"model": "mistral", "prompt": "x",
                                                          "stream": False})[0], 404)

    def test_models_override_may_be_empty_and_bad_names_are_refused(self):
        self.start()
        self.configure(models=[])
        self.assertEqual(self.tag_names(), [])
        for bad in ("llama3.2", [1], ["llama3.2:"], [""]):
            status, _, reply = self.post_json("/sim/config", {"models": bad})
            self.assertEqual(status, 400, bad)
            self.assertIn("models", reply["error"])
        self.assertEqual(self.configure()["models"], [])

    def test_a_removed_model_streaming_when_removed_still_finishes(self):
        self.start(tokens=5, token_delay_ms=50)
        conn, resp = self.stream("/api/generate", {"model": "llama3.2", "prompt": "p"})
        first = json.loads(resp.readline())
        self.assertFalse(first["done"])
        self.configure(models=["mistral"])
        lines = [json.loads(line) for line in resp.read().splitlines()]
        conn.close()
        self.assertTrue(lines[-1]["done"])
        self.assertEqual(self.tag_names(), ["mistral:latest"])

    def test_requests_by_path_and_probe_generations_count(self):
        self.start()
        self.request("GET", "/")
        self.request("GET", "/api/version")
        self.request("HEAD", "/api/version")
        self.request("GET", "/api/tags")
        self.request("GET", "/api/ps")
        self.request("GET", "/sim/config")
        self.request("GET", "/nope")
        for num_predict in (1, 1, 2):
            self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x", "stream": False,
                                             "options": {"num_predict": num_predict}})
        self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x", "stream": False})
        self.post_json("/api/chat", {"model": "llama3.2", "stream": False,
                                     "messages": [{"role": "user", "content": "x"}],
                                     "options": {"num_predict": 1}})
        stats = self.stats()
        self.assertEqual(stats["requests_by_path"], {
            "/": 1, "/api/version": 2, "/api/tags": 1, "/api/ps": 1, "/api/show": 0,
            "/api/generate": 4, "/api/chat": 1, "/api/embed": 0, "/api/embeddings": 0,
            "/v1/chat/completions": 0, "/v1/completions": 0, "/v1/embeddings": 0,
            "/v1/models": 0, "/v1/responses": 0, "/v1/messages": 0, "/api/pull": 0,
            "/api/push": 0, "/api/create": 0, "/api/copy": 0, "/api/delete": 0, "/api/blobs": 0})
        self.assertEqual(stats["probe_generations"], 2)
        self.assertEqual(stats["requests"], 11)
        # /v1/models/{model} counts as /v1/models; /v1 POST bodies are recorded too.
        self.request("GET", "/v1/models/llama3.2")
        self.post_json("/v1/chat/completions", {"model": "llama3.2",
                                                "messages": [{"role": "user", "content": "x"}]})
        stats = self.stats()
        self.assertEqual(stats["requests_by_path"]["/v1/models"], 1)
        self.assertEqual(stats["requests_by_path"]["/v1/chat/completions"], 1)
        _, _, recent = self.request("GET", "/sim/requests")
        self.assertEqual(json.loads(recent)[-1]["path"], "/v1/chat/completions")


class MalformedStreamKnobs(SimTestCase):
    """The knobs that break the NDJSON stream or its HTTP framing (for the gateway's tests)."""

    GENERATE = {"model": "llama3.2", "prompt": "p"}

    def test_garbage_after_tokens_writes_one_line_that_is_not_json_and_goes_on(self):
        self.start(name="g", tokens=5)
        self.configure(garbage_after_tokens=2)
        conn, resp = self.stream("/api/generate", self.GENERATE)
        lines = resp.read().splitlines()
        conn.close()
        self.assertEqual(len(lines), 7)  # 2 tokens, the garbage, 3 tokens, the final object
        self.assertEqual(lines[2], b"<html><body>oops: not JSON</body></html>")
        chunks = [json.loads(line) for line in lines[:2] + lines[3:]]
        self.assertEqual([c["response"] for c in chunks[:-1]], tokens("g", "p", 5))
        self.assertTrue(chunks[-1]["done"])
        self.assertEqual(self.stats()["generations_completed"], 1)

    def test_truncate_after_tokens_ends_the_body_cleanly_in_the_middle_of_a_line(self):
        self.start(name="t", tokens=5)
        for after in (2, 5):  # 5: every token went out, the final object is the one cut
            self.configure(truncate_after_tokens=after)
            conn, resp = self.stream("/api/generate", self.GENERATE)
            body = resp.read()  # the terminating chunk came: no error reading
            conn.close()
            self.assertFalse(body.endswith(b"\n"))
            lines = body.split(b"\n")
            self.assertEqual(len(lines), after + 1)
            self.assertEqual([json.loads(line)["response"] for line in lines[:-1]],
                             tokens("t", "p", after))
            self.assertTrue(lines[-1].startswith(b'{"model":"llama3.2"'), lines[-1])
            with self.assertRaises(ValueError):
                json.loads(lines[-1])
        self.assertEqual(self.stats()["generations_failed"], 2)

    def test_close_mid_chunk_after_tokens_cuts_a_chunk_and_closes_with_fin(self):
        self.start(name="c", tokens=5)
        self.configure(close_mid_chunk_after_tokens=2)
        sock = self.raw_request("/api/generate", self.GENERATE)
        data = b""
        while True:
            part = sock.recv(65536)  # a reset would raise ConnectionResetError here
            if not part:
                break
            data += part
        sock.close()
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertIn(b"Transfer-Encoding: chunked", head)
        chunks = []
        while body:
            size_line, body = body.split(b"\r\n", 1)
            size = int(size_line, 16)
            self.assertGreater(size, 0)  # no terminating chunk
            chunks.append((size, body[:size]))
            body = body[size + 2:]
        announced, sent = chunks[-1]
        self.assertEqual(len(sent), announced // 2)
        self.assertTrue(sent.startswith(b'{"model":"llama3.2"'))
        self.assertEqual([json.loads(c)["response"] for _, c in chunks[:-1]], tokens("c", "p", 2))
        self.assertEqual(self.wait_for_stats(lambda s: s["in_flight"] == 0)["generations_failed"],
                         1)

    def test_huge_line_bytes_pads_the_first_token(self):
        self.start(name="h", tokens=3)
        self.configure(huge_line_bytes=300000)
        conn, resp = self.stream("/api/generate", self.GENERATE)
        lines = resp.read().splitlines()
        conn.close()
        first = json.loads(lines[0])["response"]
        self.assertEqual(len(first), 300000)
        self.assertEqual(first, "[h]" + "." * (300000 - 3))
        self.assertLess(len(lines[0]), 300000 + 200)
        self.assertEqual([json.loads(line)["response"] for line in lines[1:3]],
                         tokens("h", "p", 3)[1:])
        _, _, whole = self.post_json("/api/generate", dict(self.GENERATE, stream=False))
        self.assertTrue(whole["response"].startswith("[h]" + "." * 1000))

    def test_content_type_overrides_the_type_of_generation_replies_only(self):
        self.start()
        self.configure(content_type="text/html; charset=utf-8")
        conn, resp = self.stream("/api/generate", self.GENERATE)
        self.assertEqual(resp.getheader("Content-Type"), "text/html; charset=utf-8")
        self.assertTrue(json.loads(resp.read().splitlines()[-1])["done"])  # the body is as usual
        conn.close()
        status, ctype, _ = self.post_json("/api/chat", {
            "model": "llama3.2", "stream": False, "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((status, ctype), (200, "text/html; charset=utf-8"))
        status, ctype, _ = self.post_json("/api/generate", {"model": "nope", "prompt": "x"})
        self.assertEqual((status, ctype), (404, JSON_TYPE))  # errors keep theirs
        self.configure(content_type="")
        conn, resp = self.stream("/api/generate", self.GENERATE)
        self.assertEqual(resp.getheader("Content-Type"), "application/x-ndjson")
        resp.read()
        conn.close()

    def test_ignore_num_predict_generates_every_token(self):
        self.start(tokens=6)
        body = dict(self.GENERATE, stream=False, options={"num_predict": 2})
        self.assertEqual(self.post_json("/api/generate", body)[2]["eval_count"], 2)
        self.configure(ignore_num_predict=True)
        _, _, reply = self.post_json("/api/generate", body)
        self.assertEqual(reply["eval_count"], 6)
        self.assertEqual(reply["done_reason"], "stop")

    def test_bad_values_are_refused_naming_the_knob(self):
        self.start()
        for knobs, name in (({"huge_line_bytes": 1 << 30}, "huge_line_bytes"),
                            ({"content_type": "a\nb"}, "content_type"),
                            ({"ignore_num_predict": "yes"}, "ignore_num_predict"),
                            ({"close_mid_chunk_after_tokens": -1},
                             "close_mid_chunk_after_tokens")):
            status, _, reply = self.post_json("/sim/config", knobs)
            self.assertEqual(status, 400, knobs)
            self.assertIn(f"'{name}'", reply["error"])


class Disconnects(SimTestCase):

    def test_closing_mid_stream_aborts_the_generation(self):
        self.start(tokens=1000, token_delay_ms=20)
        sock = self.raw_request("/api/generate", {"model": "llama3.2", "prompt": "x"})
        data = b""
        while b'"done":false' not in data:
            data += sock.recv(4096)
        sock.close()
        stats = self.wait_for_stats(lambda s: s["generations_aborted"] == 1)
        self.assertEqual(stats["generations_aborted"], 1)
        self.assertEqual(stats["generations_completed"], 0)
        self.assertEqual(stats["in_flight"], 0)
        self.assertEqual(stats["generations_started"], 1)
        # The freed slot serves the next request at once.
        self.configure(tokens=2, token_delay_ms=0)
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x",
                                                          "stream": False})[0], 200)


class Process(harness.ProcessTestCase):

    def run_sim(self, *args):
        return subprocess.run([harness.binary("ollama-sim"), *args], capture_output=True,
                              text=True, timeout=30)

    def test_bad_flags_exit_2_with_the_reason_on_stderr(self):
        for args, fragment in ((["--bogus", "1"], "unknown flag '--bogus'"),
                               (["--tokens", "x"], "--tokens"),
                               (["--port"], "needs a value")):
            with self.subTest(args=args):
                result = self.run_sim(*args)
                self.assertEqual(result.returncode, 2)
                self.assertIn(fragment, result.stderr)
                self.assertEqual(result.stdout, "")

    def test_help_prints_usage_and_exits_0(self):
        result = self.run_sim("--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("--token-delay-ms", result.stdout)

    def test_sigterm_with_streams_open_exits_0(self):
        sim = self.sim("term", tokens=1000, token_delay_ms=10)
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
        conn.request("POST", "/api/generate",
                     body=json.dumps({"model": "llama3.2", "prompt": "x"}))
        conn.getresponse().readline()
        self.assertEqual(sim.stop(), 0)
        conn.close()


def think_tokens(prompt, count):
    """The thinking tokens before a reply to `prompt`, as docs/ollama-sim.md defines them."""
    h = fnv1a64(f"think:{prompt}".encode())
    return ["Thinking" if i == 0 else " " + harness.WORDS[(h + i) % 32] for i in range(count)]


def word(prompt, k):
    """The k-th string value (k from 1) of a constrained document for `prompt`."""
    return harness.WORDS[(fnv1a64(prompt.encode()) + k) % 32]


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"}, "verbose": {"type": "boolean"}},
        "required": ["city", "unit", "days"]}}}

PERSON_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"},
    "address": {"type": "object", "properties": {"street": {"type": "string"},
                                                 "zip": {"type": "string"}},
                "required": ["street"]},
    "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "age", "address", "tags"]}


class ThinkingToolsFormatLogprobs(SimTestCase):
    """Thinking, tool calls, constrained output and logprobs of the native API."""

    def chunks(self, path, body):
        conn, resp = self.stream(path, body)
        self.assertEqual(resp.status, 200)
        lines = [json.loads(line) for line in resp.read().splitlines()]
        conn.close()
        return lines

    def test_capabilities_name_thinking_and_tools(self):
        self.start(models=("llama3.2", "qwen3:8b", "gemma3", "nomic-embed-text",
                           "qwen2.5-coder:7b"))
        _, _, tags = self.post_json("/api/show", {"model": "qwen3:8b"})
        self.assertEqual(tags["capabilities"], ["completion", "tools", "thinking"])
        status, _, body = self.request("GET", "/api/tags")
        caps = {m["name"]: m["capabilities"] for m in json.loads(body)["models"]}
        self.assertEqual(caps, {"llama3.2:latest": ["completion", "tools"],
                                "qwen3:8b": ["completion", "tools", "thinking"],
                                "gemma3:latest": ["completion"],
                                "nomic-embed-text:latest": ["embedding"],
                                "qwen2.5-coder:7b": ["completion", "tools", "insert"]})

    def test_a_thinking_model_streams_its_thinking_before_the_content(self):
        self.start(name="t", models=("qwen3:8b",), tokens=3)
        lines = self.chunks("/api/generate", {"model": "qwen3:8b", "prompt": "why"})
        thinking, content = lines[:8], lines[8:-1]
        self.assertEqual([c["thinking"] for c in thinking], think_tokens("why", 8))
        for c in thinking:
            self.assertEqual(c["response"], "")
        self.assertEqual([c["response"] for c in content], tokens("t", "why", 3))
        for c in content:
            self.assertNotIn("thinking", c)
        self.check_final(lines[-1], "why", 11)
        chat = self.chunks("/api/chat", {"model": "qwen3:8b", "think": "low",
                                         "messages": [{"role": "user", "content": "why"}]})
        self.assertEqual(chat[0]["message"], {"role": "assistant", "content": "",
                                              "thinking": "Thinking"})
        self.assertEqual([c["message"]["thinking"] for c in chat[:4]], think_tokens("why", 4))
        self.assertEqual([c["message"]["content"] for c in chat[4:-1]], tokens("t", "why", 3))
        self.check_final(chat[-1], "why", 7)

    def test_thinking_without_streaming_and_think_false(self):
        self.start(name="t", models=("deepseek-r1:7b",), tokens=4)
        msgs = [{"role": "user", "content": "q"}]
        _, _, reply = self.post_json("/api/chat", {"model": "deepseek-r1:7b", "stream": False,
                                                   "think": "high", "messages": msgs})
        self.assertEqual(reply["message"], {"role": "assistant",
                                            "content": "".join(tokens("t", "q", 4)),
                                            "thinking": "".join(think_tokens("q", 16))})
        self.check_final(reply, "q", 20)
        _, _, off = self.post_json("/api/generate", {"model": "deepseek-r1:7b", "prompt": "q",
                                                     "stream": False, "think": False})
        self.assertNotIn("thinking", off)
        self.assertEqual(off["response"], "".join(tokens("t", "q", 4)))

    def test_thinking_counts_against_num_predict(self):
        self.start(name="t", models=("qwen3",), tokens=10)
        _, _, reply = self.post_json("/api/generate", {
            "model": "qwen3", "prompt": "q", "stream": False, "options": {"num_predict": 10}})
        self.assertEqual(reply["thinking"], "".join(think_tokens("q", 8)))
        self.assertEqual(reply["response"], "".join(tokens("t", "q", 2)))
        self.check_final(reply, "q", 10, reason="length")

    def test_think_errors_are_ollamas(self):
        self.start(models=("llama3.2", "qwen3"))
        status, _, reply = self.post_json("/api/chat", {
            "model": "llama3.2", "think": True, "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((status, reply), (400, {"error": '"llama3.2" does not support thinking'}))
        status, _, reply = self.post_json("/api/generate", {
            "model": "qwen3", "prompt": "x", "think": "extreme"})
        self.assertEqual(status, 400)
        self.assertEqual(reply["error"], 'invalid think value: "extreme" (must be "high", '
                                         '"medium", "low", "max", true, or false)')
        status, _, _ = self.post_json("/api/generate", {
            "model": "llama3.2", "prompt": "x", "think": False, "stream": False})
        self.assertEqual(status, 200)

    def test_tools_give_a_tool_call_then_a_text_answer_to_its_result(self):
        self.start(name="t", tokens=3)
        msgs = [{"role": "user", "content": "weather in Paris?"}]
        lines = self.chunks("/api/chat", {"model": "llama3.2", "messages": msgs,
                                          "tools": [WEATHER_TOOL]})
        self.assertEqual(len(lines), 2)
        call = lines[0]["message"]
        self.assertEqual(call["content"], "")
        self.assertEqual(len(call["tool_calls"]), 1)
        tc = call["tool_calls"][0]
        self.assertRegex(tc["id"], r"^call_[a-z0-9]{8}$")
        self.assertEqual(tc["function"], {"index": 0, "name": "get_weather", "arguments": {
            "city": word(msgs[0]["content"], 1), "unit": "celsius", "days": 1}})
        self.assertEqual(list(tc["function"]["arguments"]), ["city", "unit", "days"])
        self.assertEqual(lines[1]["done_reason"], "stop")
        # The same request gives the same call id; without streaming it is in message.tool_calls.
        _, _, whole = self.post_json("/api/chat", {"model": "llama3.2", "messages": msgs,
                                                   "tools": [WEATHER_TOOL], "stream": False})
        self.assertEqual(whole["message"]["tool_calls"], call["tool_calls"])
        msgs += [{"role": "assistant", "content": "", "tool_calls": call["tool_calls"]},
                 {"role": "tool", "tool_name": "get_weather", "content": "sunny, 21C"}]
        _, _, answer = self.post_json("/api/chat", {"model": "llama3.2", "messages": msgs,
                                                    "tools": [WEATHER_TOOL], "stream": False})
        self.assertNotIn("tool_calls", answer["message"])
        self.assertEqual(answer["message"]["content"], "".join(tokens("t", "sunny, 21C", 3)))

    def test_tools_on_a_model_without_tool_support_are_refused(self):
        self.start(models=("gemma3", "all-minilm"))
        msgs = [{"role": "user", "content": "x"}]
        status, _, reply = self.post_json("/api/chat", {"model": "gemma3", "messages": msgs,
                                                        "tools": [WEATHER_TOOL]})
        self.assertEqual((status, reply["error"]),
                         (400, "registry.ollama.ai/library/gemma3:latest does not support tools"))
        # Ollama checks completion first: an embedding model does not support chat at all.
        status, _, reply = self.post_json("/api/chat", {"model": "all-minilm", "messages": msgs,
                                                        "tools": [WEATHER_TOOL]})
        self.assertEqual((status, reply["error"]), (400, '"all-minilm" does not support chat'))

    def test_format_schema_streams_a_document_that_follows_it(self):
        self.start(name="t", tokens=3)
        prompt = "describe someone"
        lines = self.chunks("/api/chat", {"model": "llama3.2", "format": PERSON_SCHEMA,
                                          "messages": [{"role": "user", "content": prompt}]})
        pieces = [c["message"]["content"] for c in lines[:-1]]
        self.assertGreater(len(pieces), 10)
        doc = json.loads("".join(pieces))
        self.assertEqual(doc, {"name": word(prompt, 1), "age": 1,
                               "address": {"street": word(prompt, 2)}, "tags": []})
        self.check_final(lines[-1], prompt, len(pieces))
        _, _, reply = self.post_json("/api/generate", {"model": "llama3.2", "prompt": prompt,
                                                       "format": "json", "stream": False})
        self.assertEqual(json.loads(reply["response"]), {"response": word(prompt, 1)})
        status, _, reply = self.post_json("/api/generate", {"model": "llama3.2", "prompt": "p",
                                                            "format": "yaml"})
        self.assertEqual(status, 500)
        self.assertTrue(reply["error"].startswith("invalid format: "), reply)

    def test_think_and_format_give_the_constrained_pass_a_fresh_num_predict(self):
        self.start(name="t", models=("qwen3",))
        prompt = "p"
        schema = {"type": "object", "properties": {"a": {"type": "string"}}}
        body = {"model": "qwen3", "format": schema, "stream": False, "think": "high",
                "messages": [{"role": "user", "content": prompt}], "options": {"num_predict": 20}}
        _, _, reply = self.post_json("/api/chat", body)
        self.assertEqual(reply["message"]["thinking"], "".join(think_tokens(prompt, 16)))
        self.assertEqual(json.loads(reply["message"]["content"]), {"a": word(prompt, 1)})
        self.assertEqual(reply["done_reason"], "stop")
        # eval_count is the second (constrained) pass's: the 5 pieces of {"a":"..."}.
        self.assertEqual(reply["eval_count"], 5)
        # A budget smaller than the thinking ends during the thinking.
        body["options"]["num_predict"] = 6
        _, _, short = self.post_json("/api/chat", body)
        self.assertEqual(short["message"]["thinking"], "".join(think_tokens(prompt, 6)))
        self.assertEqual(short["message"]["content"], "")
        self.assertEqual(short["done_reason"], "length")
        # 4 thinking tokens and 5 pieces fit a num_predict of 5: the budgets are separate.
        body["options"]["num_predict"] = 5
        body["think"] = "low"
        _, _, fresh = self.post_json("/api/chat", body)
        self.assertEqual(fresh["message"]["thinking"], "".join(think_tokens(prompt, 4)))
        self.assertEqual(json.loads(fresh["message"]["content"]), {"a": word(prompt, 1)})
        self.assertEqual(fresh["done_reason"], "stop")
        # A document longer than the budget is cut (and no longer parses), as a real one is.
        body["format"] = {"type": "object", "properties": {"a": {"type": "string"},
                                                           "b": {"type": "integer"}}}
        _, _, cut = self.post_json("/api/chat", body)
        self.assertEqual(cut["message"]["content"], '{"a":"%s",' % word(prompt, 1))
        self.assertEqual(cut["done_reason"], "length")

    def test_logprobs_come_with_every_token(self):
        self.start(name="t", tokens=3)
        lines = self.chunks("/api/generate", {"model": "llama3.2", "prompt": "p",
                                              "logprobs": True, "top_logprobs": 2})
        expected_tokens = tokens("t", "p", 3)
        for i, chunk in enumerate(lines[:-1]):
            self.assertEqual(len(chunk["logprobs"]), 1)
            lp = chunk["logprobs"][0]
            self.assertEqual(lp["token"], expected_tokens[i])
            self.assertEqual(lp["logprob"], -(1 + i % 8) / 16)
            self.assertEqual(lp["bytes"], list(expected_tokens[i].encode()))
            self.assertEqual([t["token"] for t in lp["top_logprobs"]],
                             [expected_tokens[i], " " + harness.WORDS[(i + 1) % 32]])
            self.assertEqual(lp["top_logprobs"][1]["logprob"], lp["logprob"] - 0.25)
        self.assertNotIn("logprobs", lines[-1])
        _, _, reply = self.post_json("/api/chat", {
            "model": "llama3.2", "stream": False, "logprobs": True,
            "messages": [{"role": "user", "content": "p"}]})
        self.assertEqual([lp["token"] for lp in reply["logprobs"]], expected_tokens)
        self.assertNotIn("top_logprobs", reply["logprobs"][0])
        status, _, reply = self.post_json("/api/chat", {
            "model": "llama3.2", "top_logprobs": 21, "messages": []})
        self.assertEqual((status, reply), (400, {"error": "top_logprobs must be between 0 and 20"}))


def sse_data(body):
    """The `data:` payloads of an SSE body, in order (no `event:` lines expected)."""
    events = body.decode().split("\n\n")
    assert events[-1] == "", events[-1]
    out = []
    for event in events[:-1]:
        assert event.startswith("data: "), event
        assert "\n" not in event, event
        out.append(event[len("data: "):])
    return out


def sse_events(body):
    """(event name, data object) pairs of an SSE body with `event:` lines."""
    events = body.decode().split("\n\n")
    assert events[-1] == "", events[-1]
    out = []
    for event in events[:-1]:
        name, data = event.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), event
        out.append((name[len("event: "):], json.loads(data[len("data: "):])))
    return out


class CompatibilityEndpoints(SimTestCase):
    """Ollama's /v1 OpenAI and Anthropic endpoints, translated to the native generation."""

    USER = [{"role": "user", "content": "hi there"}]

    def test_chat_completions_without_streaming(self):
        self.start(name="c", tokens=3)
        status, ctype, reply = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "messages": self.USER})
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertRegex(reply["id"], r"^chatcmpl-\d{1,3}$")
        self.assertEqual(reply["object"], "chat.completion")
        self.assertEqual(reply["system_fingerprint"], "fp_ollama")
        self.assertEqual(reply["choices"], [{"index": 0, "message": {
            "role": "assistant", "content": "".join(tokens("c", "hi there", 3))},
            "finish_reason": "stop"}])
        self.assertEqual(reply["usage"], {"prompt_tokens": 2, "completion_tokens": 3,
                                          "total_tokens": 5})
        _, _, with_logprobs = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "messages": self.USER, "logprobs": True, "top_logprobs": 1})
        content = with_logprobs["choices"][0]["logprobs"]["content"]
        self.assertEqual([lp["token"] for lp in content], tokens("c", "hi there", 3))
        self.assertEqual(content[0]["logprob"], -0.0625)
        self.assertEqual(len(content[0]["top_logprobs"]), 1)
        # max_tokens is num_predict; the content may come as parts (each its own message).
        _, _, short = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "max_tokens": 2, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"},
                                             {"type": "text", "text": "b c"}]}]})
        self.assertEqual(short["choices"][0]["message"]["content"],
                         "".join(tokens("c", "b c", 2)))
        self.assertEqual(short["choices"][0]["finish_reason"], "length")

    def test_chat_completions_stream_with_reasoning_and_usage(self):
        self.start(name="c", models=("qwen3",), tokens=2)
        status, ctype, body = self.request("POST", "/v1/chat/completions", {
            "model": "qwen3", "stream": True, "reasoning_effort": "low",
            "stream_options": {"include_usage": True}, "messages": self.USER})
        self.assertEqual((status, ctype), (200, "text/event-stream"))
        data = sse_data(body)
        self.assertEqual(data[-1], "[DONE]")
        chunks = [json.loads(d) for d in data[:-1]]
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertEqual(len({c["created"] for c in chunks}), 1)
        deltas = [c["choices"][0]["delta"] for c in chunks[:6]]
        self.assertEqual(deltas[0], {"role": "assistant", "content": "",
                                     "reasoning": "Thinking"})
        self.assertEqual([d["reasoning"] for d in deltas[:4]], think_tokens("hi there", 4))
        self.assertEqual([d["content"] for d in deltas[4:]], tokens("c", "hi there", 2))
        self.assertEqual(chunks[6]["choices"], [{"index": 0, "delta": {},
                                                 "finish_reason": "stop"}])
        self.assertEqual(chunks[7]["choices"], [])
        self.assertEqual(chunks[7]["usage"], {"prompt_tokens": 2, "completion_tokens": 6,
                                              "total_tokens": 8})

    def test_chat_completions_tool_call_and_tool_result(self):
        self.start(name="c", tokens=2)
        body = {"model": "llama3.2", "messages": list(self.USER), "tools": [WEATHER_TOOL]}
        _, _, reply = self.post_json("/v1/chat/completions", body)
        choice = reply["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        call = choice["message"]["tool_calls"][0]
        self.assertRegex(call["id"], r"^call_[a-z0-9]{8}$")
        self.assertEqual((call["index"], call["type"], call["function"]["name"]),
                         (0, "function", "get_weather"))
        self.assertIsInstance(call["function"]["arguments"], str)
        self.assertEqual(json.loads(call["function"]["arguments"]),
                         {"city": word("hi there", 1), "unit": "celsius", "days": 1})
        status, _, streamed = self.request("POST", "/v1/chat/completions",
                                           dict(body, stream=True))
        chunks = [json.loads(d) for d in sse_data(streamed)[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["tool_calls"], [call])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "tool_calls")
        body["messages"] += [{"role": "assistant", "content": None, "tool_calls": [call]},
                             {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
        _, _, answer = self.post_json("/v1/chat/completions", body)
        self.assertEqual(answer["choices"][0]["message"]["content"],
                         "".join(tokens("c", "sunny", 2)))
        self.assertEqual(answer["choices"][0]["finish_reason"], "stop")
        # What reached the native handler: the tool message named after the call.
        _, _, recent = self.request("GET", "/sim/requests")
        self.assertEqual(json.loads(recent)[-1]["path"], "/v1/chat/completions")

    def test_chat_completions_response_format_and_errors(self):
        self.start(name="c")
        _, _, reply = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "messages": self.USER, "response_format": {
                "type": "json_schema", "json_schema": {"name": "p", "schema": PERSON_SCHEMA}}})
        doc = json.loads(reply["choices"][0]["message"]["content"])
        self.assertEqual(set(doc), {"name", "age", "address", "tags"})
        status, ctype, err = self.post_json("/v1/chat/completions", {"model": "llama3.2",
                                                                     "messages": []})
        self.assertEqual((status, ctype), (400, JSON_TYPE))
        self.assertEqual(err, {"error": {"message": "[] is too short - 'messages'",
                                         "type": "invalid_request_error", "param": None,
                                         "code": None}})
        status, _, err = self.post_json("/v1/chat/completions", {"model": "nope",
                                                                 "messages": self.USER})
        self.assertEqual((status, err["error"]["type"], err["error"]["message"]),
                         (404, "not_found_error", "model 'nope' not found"))
        status, _, err = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "messages": self.USER, "reasoning_effort": "huge"})
        self.assertEqual(status, 400)
        self.assertTrue(err["error"]["message"].startswith('invalid reasoning value: "huge"'))
        status, _, err = self.post_json("/v1/chat/completions", {
            "model": "llama3.2", "messages": self.USER, "reasoning_effort": "high"})
        self.assertEqual((status, err["error"]["message"]),
                         (400, '"llama3.2" does not support thinking'))

    def test_chat_completions_mid_stream_failure_ends_without_done(self):
        self.start(name="c", tokens=5)
        self.configure(fail_after_tokens=2)
        status, _, body = self.request("POST", "/v1/chat/completions", {
            "model": "llama3.2", "stream": True, "messages": self.USER})
        self.assertEqual(status, 200)
        data = sse_data(body)
        self.assertNotIn("[DONE]", data)
        chunks = [json.loads(d) for d in data]
        self.assertEqual(len(chunks), 3)
        self.assertEqual(chunks[-1]["choices"], [{"index": 0, "delta": {"content": ""},
                                                  "finish_reason": None}])
        status, _, err = self.post_json("/v1/chat/completions", {"model": "llama3.2",
                                                                 "messages": self.USER})
        self.assertEqual((status, err["error"]["type"]), (500, "api_error"))
        # Anthropic and Responses streams just stop: no message_stop, no response.completed.
        _, _, body = self.request("POST", "/v1/messages", {
            "model": "llama3.2", "max_tokens": 9, "stream": True, "messages": self.USER})
        names = [n for n, _ in sse_events(body)]
        self.assertEqual(names, ["message_start", "content_block_start", "content_block_delta",
                                 "content_block_delta"])
        _, _, body = self.request("POST", "/v1/responses", {
            "model": "llama3.2", "input": "hi", "stream": True})
        names = [n for n, _ in sse_events(body)]
        self.assertNotIn("response.completed", names)
        self.assertEqual(names.count("response.output_text.delta"), 2)

    def test_completions_stream_and_whole(self):
        self.start(name="c", models=("llama3.2", "qwen2.5-coder"), tokens=3)
        _, _, reply = self.post_json("/v1/completions", {"model": "qwen2.5-coder",
                                                          "prompt": "p q", "suffix": "end"})
        self.assertEqual(reply["object"], "text_completion")
        self.assertRegex(reply["id"], r"^cmpl-\d{1,3}$")
        self.assertEqual(reply["choices"], [{"text": "".join(tokens("c", "p q", 3)), "index": 0,
                                             "finish_reason": "stop"}])
        self.assertEqual(reply["usage"]["completion_tokens"], 3)
        # A suffix needs the insert capability (code models), as on /api/generate.
        status, _, err = self.post_json("/v1/completions", {"model": "llama3.2", "prompt": "p",
                                                             "suffix": "end"})
        self.assertEqual((status, err["error"]["message"]),
                         (400, "registry.ollama.ai/library/llama3.2:latest does not support insert"))
        status, ctype, body = self.request("POST", "/v1/completions", {
            "model": "llama3.2", "prompt": "p q", "stream": True, "max_tokens": 2,
            "stream_options": {"include_usage": True}})
        self.assertEqual(ctype, "text/event-stream")
        data = sse_data(body)
        self.assertEqual(data[-1], "[DONE]")
        chunks = [json.loads(d) for d in data[:-1]]
        self.assertEqual([c["choices"][0]["text"] for c in chunks[:3]],
                         tokens("c", "p q", 2) + [""])
        self.assertEqual([c["choices"][0]["finish_reason"] for c in chunks[:3]],
                         [None, None, "length"])
        for c in chunks[:3]:
            self.assertEqual(c["usage"], {"prompt_tokens": 0, "completion_tokens": 0,
                                          "total_tokens": 0})
        self.assertEqual((chunks[3]["choices"], chunks[3]["usage"]["completion_tokens"]),
                         ([], 2))

    def test_embeddings_in_float_and_base64(self):
        import base64
        import struct
        self.start(models=("all-minilm",))
        status, ctype, reply = self.post_json("/v1/embeddings", {"model": "all-minilm",
                                                                  "input": ["a b", "c"]})
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertEqual(reply["object"], "list")
        self.assertEqual([d["index"] for d in reply["data"]], [0, 1])
        for got, want in zip(reply["data"][0]["embedding"], embedding("a b")):
            self.assertAlmostEqual(got, want, places=6)
        self.assertEqual(reply["usage"], {"prompt_tokens": 3, "total_tokens": 3})
        _, _, b64 = self.post_json("/v1/embeddings", {"model": "all-minilm", "input": "a b",
                                                       "encoding_format": "base64"})
        floats = struct.unpack("<16f", base64.b64decode(b64["data"][0]["embedding"]))
        for got, want in zip(floats, embedding("a b")):
            self.assertAlmostEqual(got, want, places=6)
        status, _, err = self.post_json("/v1/embeddings", {"model": "all-minilm", "input": []})
        self.assertEqual((status, err["error"]["message"]), (400, "invalid input"))
        status, _, err = self.post_json("/v1/embeddings", {"model": "all-minilm", "input": "x",
                                                            "encoding_format": "int8"})
        self.assertEqual(status, 400)

    def test_models_list_and_retrieve(self):
        self.start(models=("llama3.2", "me/tiny:1b"))
        status, _, body = self.request("GET", "/v1/models")
        reply = json.loads(body)
        self.assertEqual([(m["id"], m["object"], m["owned_by"]) for m in reply["data"]],
                         [("llama3.2:latest", "model", "library"), ("me/tiny:1b", "model", "me")])
        status, _, body = self.request("GET", "/v1/models/llama3.2")
        self.assertEqual((status, json.loads(body)["id"]), (200, "llama3.2"))
        status, _, body = self.request("GET", "/v1/models/missing")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"], {
            "message": "model 'missing:latest' not found", "type": "not_found_error",
            "param": None, "code": None})

    def test_responses_whole_with_reasoning_and_instructions(self):
        self.start(name="r", models=("qwen3",), tokens=2)
        status, ctype, reply = self.post_json("/v1/responses", {
            "model": "qwen3", "input": "hello", "instructions": "be brief",
            "reasoning": {"effort": "low"}})
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertRegex(reply["id"], r"^resp_\d+$")
        self.assertEqual((reply["object"], reply["status"], reply["instructions"]),
                         ("response", "completed", "be brief"))
        reasoning, message = reply["output"]
        self.assertEqual(reasoning["type"], "reasoning")
        self.assertEqual(reasoning["summary"], [{"type": "summary_text",
                                                 "text": "".join(think_tokens("hello", 4))}])
        self.assertEqual(message["content"], [{"type": "output_text", "annotations": [],
                                               "logprobs": [],
                                               "text": "".join(tokens("r", "hello", 2))}])
        self.assertEqual(reply["usage"]["output_tokens"], 6)

    def test_responses_stream_events(self):
        self.start(name="r", tokens=2)
        status, ctype, body = self.request("POST", "/v1/responses", {
            "model": "llama3.2", "input": [{"role": "user", "content": "hello"}],
            "stream": True})
        self.assertEqual(ctype, "text/event-stream")
        events = sse_events(body)
        self.assertEqual([name for name, _ in events], [
            "response.created", "response.in_progress", "response.output_item.added",
            "response.content_part.added", "response.output_text.delta",
            "response.output_text.delta", "response.output_text.done",
            "response.content_part.done", "response.output_item.done", "response.completed"])
        for i, (name, data) in enumerate(events):
            self.assertEqual((data["type"], data["sequence_number"]), (name, i))
        self.assertEqual([d["delta"] for n, d in events if n == "response.output_text.delta"],
                         tokens("r", "hello", 2))
        final = events[-1][1]["response"]
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["output"][0]["content"][0]["text"],
                         "".join(tokens("r", "hello", 2)))

    def test_responses_function_call_and_its_output(self):
        self.start(name="r", tokens=2)
        tool = {"type": "function", "name": "get_weather", "description": "weather",
                "parameters": WEATHER_TOOL["function"]["parameters"]}
        _, _, reply = self.post_json("/v1/responses", {"model": "llama3.2", "input": "hello",
                                                       "tools": [tool]})
        call = reply["output"][0]
        self.assertEqual((call["type"], call["status"], call["name"]),
                         ("function_call", "completed", "get_weather"))
        self.assertEqual(json.loads(call["arguments"])["unit"], "celsius")
        _, _, body = self.request("POST", "/v1/responses", {
            "model": "llama3.2", "input": "hello", "tools": [tool], "stream": True})
        names = [name for name, _ in sse_events(body)]
        self.assertEqual(names[2:], ["response.output_item.added",
                                     "response.function_call_arguments.delta",
                                     "response.function_call_arguments.done",
                                     "response.output_item.done", "response.completed"])
        _, _, answer = self.post_json("/v1/responses", {"model": "llama3.2", "tools": [tool],
            "input": [{"role": "user", "content": "hello"},
                      {"type": "function_call", "call_id": call["call_id"],
                       "name": "get_weather", "arguments": call["arguments"]},
                      {"type": "function_call_output", "call_id": call["call_id"],
                       "output": "rainy"}]})
        self.assertEqual(answer["output"][0]["content"][0]["text"],
                         "".join(tokens("r", "rainy", 2)))
        status, _, err = self.post_json("/v1/responses", {"model": "llama3.2",
                                                          "input": [{"type": "bogus"}]})
        self.assertEqual((status, err["error"]["message"]),
                         (400, 'input[0]: unknown input item type: "bogus"'))

    def test_messages_whole_with_system_and_thinking(self):
        self.start(name="a", models=("qwen3", "llama3.2"), tokens=2)
        status, ctype, reply = self.post_json("/v1/messages", {
            "model": "qwen3", "max_tokens": 100, "system": "be kind",
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "hello"}]})
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertRegex(reply["id"], r"^msg_[0-9a-f]{24}$")
        self.assertEqual((reply["type"], reply["role"], reply["stop_reason"]),
                         ("message", "assistant", "end_turn"))
        self.assertEqual(reply["content"], [
            {"type": "thinking", "thinking": "".join(think_tokens("hello", 8))},
            {"type": "text", "text": "".join(tokens("a", "hello", 2))}])
        self.assertEqual(reply["usage"], {"input_tokens": 1, "output_tokens": 10})
        # Thinking is relaxed for models that do not think, and max_tokens is num_predict.
        _, _, relaxed = self.post_json("/v1/messages", {
            "model": "llama3.2", "max_tokens": 1, "thinking": {"type": "enabled"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]})
        self.assertEqual(relaxed["content"], [{"type": "text", "text": "[a]"}])
        self.assertEqual(relaxed["stop_reason"], "max_tokens")

    def test_messages_stream_events(self):
        self.start(name="a", models=("qwen3",), tokens=2)
        status, ctype, body = self.request("POST", "/v1/messages", {
            "model": "qwen3", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "hello"}]})
        self.assertEqual(ctype, "text/event-stream")
        events = sse_events(body)
        names = [n for n, _ in events]
        self.assertEqual(names[:3], ["message_start", "content_block_start",
                                     "content_block_delta"])
        for name, data in events:
            self.assertEqual(data["type"], name)
        deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
        self.assertEqual([d["thinking"] for d in deltas if d["type"] == "thinking_delta"],
                         think_tokens("hello", 8))
        self.assertEqual([d["text"] for d in deltas if d["type"] == "text_delta"],
                         tokens("a", "hello", 2))
        starts = [d for n, d in events if n == "content_block_start"]
        self.assertEqual([(s["index"], s["content_block"]) for s in starts],
                         [(0, {"type": "thinking", "thinking": ""}),
                          (1, {"type": "text", "text": ""})])
        self.assertEqual(names[-2:], ["message_delta", "message_stop"])
        self.assertEqual(events[-2][1]["delta"], {"stop_reason": "end_turn"})
        self.assertEqual(events[-2][1]["usage"], {"input_tokens": 1, "output_tokens": 10})

    def test_messages_tool_use_and_tool_result(self):
        self.start(name="a", tokens=2)
        tools = [{"name": "get_weather", "description": "weather",
                  "input_schema": WEATHER_TOOL["function"]["parameters"]}]
        body = {"model": "llama3.2", "max_tokens": 50, "tools": tools,
                "messages": [{"role": "user", "content": "hello"}]}
        _, _, reply = self.post_json("/v1/messages", body)
        self.assertEqual(reply["stop_reason"], "tool_use")
        use = reply["content"][0]
        self.assertEqual((use["type"], use["name"]), ("tool_use", "get_weather"))
        self.assertEqual(use["input"], {"city": word("hello", 1), "unit": "celsius", "days": 1})
        _, _, streamed = self.request("POST", "/v1/messages", dict(body, stream=True))
        events = sse_events(streamed)
        self.assertEqual([n for n, _ in events], [
            "message_start", "content_block_start", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop"])
        self.assertEqual(events[1][1]["content_block"], {"type": "tool_use", "id": use["id"],
                                                         "name": "get_weather", "input": {}})
        self.assertEqual(events[2][1]["delta"]["type"], "input_json_delta")
        self.assertEqual(json.loads(events[2][1]["delta"]["partial_json"]), use["input"])
        self.assertEqual(events[4][1]["delta"], {"stop_reason": "tool_use"})
        body["messages"] += [
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                          "content": "foggy"}]}]
        _, _, answer = self.post_json("/v1/messages", body)
        self.assertEqual(answer["content"], [{"type": "text",
                                              "text": "".join(tokens("a", "foggy", 2))}])

    def test_odd_shapes_are_refused_with_400_never_500(self):
        self.start()
        # null is an absent field, as in Go.
        status, _, _ = self.post_json("/api/generate", {"model": "llama3.2", "prompt": "x",
                                                        "raw": None, "stream": False})
        self.assertEqual(status, 200)
        status, _, err = self.post_json("/v1/chat/completions", {"model": "llama3.2",
                                                                 "messages": ["hi"]})
        self.assertEqual((status, err["error"]["message"]), (400, (
            "json: cannot unmarshal string into Go struct field "
            "ChatCompletionRequest.messages of type openai.Message")))
        for path, body in (
                ("/v1/chat/completions", {"model": "llama3.2", "messages": [
                    {"role": "assistant", "content": None, "tool_calls": ["x"]}]}),
                ("/v1/responses", {"model": "llama3.2", "input": "x", "tools": [1]}),
                ("/v1/messages", {"model": "llama3.2", "max_tokens": 3, "tools": ["x"],
                                  "messages": [{"role": "user", "content": "x"}]}),
                ("/v1/messages", {"model": "llama3.2", "max_tokens": 3,
                                  "messages": [{"role": "user", "content": [7]}]})):
            status, _, err = self.post_json(path, body)
            self.assertEqual(status, 400, (path, err))
        # Deep nesting is Go's error, before anything walks the value.
        deep = b'{"model":"llama3.2","messages":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        for path in ("/api/chat", "/v1/chat/completions", "/v1/messages", "/v1/responses"):
            status, _, data = self.request("POST", path, deep)
            self.assertEqual(status, 400, path)
            self.assertIn("invalid character '[' exceeded max depth", data.decode())

    def test_messages_errors_have_anthropics_shape(self):
        self.start()
        status, ctype, err = self.post_json("/v1/messages", {"model": "llama3.2",
                                                             "messages": self.USER})
        self.assertEqual((status, ctype), (400, JSON_TYPE))
        self.assertEqual(err["type"], "error")
        self.assertEqual(err["error"], {"type": "invalid_request_error",
                                        "message": "max_tokens is required and must be positive"})
        self.assertRegex(err["request_id"], r"^req_[0-9a-f]{24}$")
        status, _, err = self.post_json("/v1/messages", {"model": "nope", "max_tokens": 5,
                                                         "messages": self.USER})
        self.assertEqual((status, err["error"]["type"]), (404, "not_found_error"))


def ndjson(data):
    return [json.loads(line) for line in data.decode().splitlines() if line]


class ModelManagement(SimTestCase):
    """pull, push, create, copy, delete and blobs as Ollama 0.33's handlers answer them."""

    def test_a_streamed_pull_reports_each_layer_then_installs_the_model(self):
        self.start(extra=("--pull-delay-ms", "120"))
        self.assertNotIn("tiny:1b", self.tags())
        status, ctype, data = self.request("POST", "/api/pull", {"model": "tiny:1b"})
        self.assertEqual((status, ctype), (200, "application/x-ndjson"))
        lines = ndjson(data)
        self.assertEqual(lines[0], {"status": "pulling manifest"})
        self.assertEqual([l["status"] for l in lines[-3:]],
                         ["verifying sha256 digest", "writing manifest", "success"])
        layers = lines[1:-3]
        digests = []
        for line in layers:
            self.assertEqual(line["status"], "pulling " + line["digest"][7:19])
            self.assertRegex(line["digest"], r"^sha256:[0-9a-f]{64}$")
            self.assertLessEqual(line["completed"], line["total"])
            if line["digest"] not in digests:
                digests.append(line["digest"])
        self.assertEqual(len(digests), 4)
        totals = {l["digest"]: l["total"] for l in layers}
        for d in digests:
            self.assertEqual(max(l["completed"] for l in layers if l["digest"] == d), totals[d])
        model = self.tags()["tiny:1b"]
        self.assertEqual(model["size"], sum(totals.values()))
        self.assertEqual(model["details"]["parameter_size"], "1.0B")
        # Its layers are blobs now, and it generates.
        self.assertEqual(self.request("HEAD", "/api/blobs/" + digests[0])[0], 200)
        status, _, reply = self.post_json("/api/generate",
                                          {"model": "tiny:1b", "prompt": "hi", "stream": False})
        self.assertEqual(status, 200, reply)
        stats = self.stats()
        self.assertEqual((stats["pulls"], stats["requests_by_path"]["/api/pull"]), (1, 1))

    def test_a_pull_without_streaming_answers_success_alone(self):
        self.start(extra=("--pull-delay-ms", "30"))
        status, ctype, data = self.request("POST", "/api/pull",
                                           {"name": "me/tiny", "stream": False})
        self.assertEqual((status, ctype, json.loads(data)),
                         (200, "application/json", {"status": "success"}))
        self.assertIn("me/tiny:latest", self.tags())

    def test_a_pull_of_a_model_the_registry_lacks_fails_after_the_manifest_line(self):
        self.start(extra=("--pull-delay-ms", "0"))
        self.configure(pull_fail=["nope"])
        status, ctype, data = self.request("POST", "/api/pull", {"model": "nope"})
        self.assertEqual((status, ctype), (200, "application/x-ndjson"))
        self.assertEqual(ndjson(data), [{"status": "pulling manifest"},
                                        {"error": "pull model manifest: file does not exist"}])
        status, ctype, data = self.request("POST", "/api/pull", {"model": "nope", "stream": False})
        self.assertEqual((status, ctype, json.loads(data)),
                         (500, "application/json",
                          {"error": "pull model manifest: file does not exist"}))
        self.assertNotIn("nope:latest", self.tags())
        self.assertEqual(self.stats()["pull_failures"], 2)
        # "*" fails every pull; [] none.
        self.configure(pull_fail=["*"])
        self.assertEqual(self.post_json("/api/pull", {"model": "x", "stream": False})[0], 500)
        self.configure(pull_fail=[])
        self.assertEqual(self.post_json("/api/pull", {"model": "x", "stream": False})[0], 200)

    def test_a_pull_with_a_bad_name_or_body_is_refused_before_streaming(self):
        self.start()
        for body, message in (({"model": ""}, "invalid model name"),
                              ({"model": "bad name!"}, "invalid model name"),
                              ({"model": 3}, "json: cannot unmarshal number into Go struct field "
                                             "PullRequest.model of type string")):
            status, ctype, reply = self.post_json("/api/pull", body)
            self.assertEqual((status, ctype, reply), (400, JSON_TYPE, {"error": message}))
        self.assertEqual(self.request("GET", "/api/pull")[0], 405)

    def test_a_client_that_leaves_mid_pull_installs_nothing(self):
        self.start(extra=("--pull-delay-ms", "2000"))
        conn, resp = self.stream("/api/pull", {"model": "slow"})
        self.assertEqual(json.loads(resp.readline()), {"status": "pulling manifest"})
        conn.close()
        self.configure(pull_delay_ms=0)
        time.sleep(0.1)
        self.assertNotIn("slow:latest", self.tags())

    def test_copy_keeps_the_digest_and_delete_removes_the_model(self):
        self.start(models=("qwen3:4b",))
        status, ctype, data = self.request("POST", "/api/copy",
                                           {"source": "qwen3:4b", "destination": "mine"})
        self.assertEqual((status, data), (200, b""))
        tags = self.tags()
        self.assertEqual(tags["mine:latest"]["digest"], tags["qwen3:4b"]["digest"])
        self.assertEqual(tags["mine:latest"]["size"], tags["qwen3:4b"]["size"])
        self.assertIn("thinking", tags["mine:latest"]["capabilities"])
        self.assertEqual(self.post_json("/api/copy", {"source": "ghost", "destination": "x"}),
                         (404, JSON_TYPE, {"error": 'model "ghost" not found'}))
        self.assertEqual(self.post_json("/api/copy", {"source": "", "destination": "x"}),
                         (400, JSON_TYPE, {"error": 'source "" is invalid'}))
        self.assertEqual(self.post_json("/api/copy", {"source": "mine", "destination": "a b"}),
                         (400, JSON_TYPE, {"error": 'destination "a b" is invalid'}))
        status, _, data = self.request("DELETE", "/api/delete", {"model": "mine"})
        self.assertEqual((status, data), (200, b""))
        self.assertNotIn("mine:latest", self.tags())
        self.assertEqual(self.request("DELETE", "/api/delete", {"name": "mine"})[0:2],
                         (404, JSON_TYPE))
        self.assertEqual(json.loads(self.request("DELETE", "/api/delete", {"name": "mine"})[2]),
                         {"error": "model 'mine' not found"})
        self.assertEqual(json.loads(self.request("DELETE", "/api/delete", {})[2]),
                         {"error": "model is required"})
        self.assertEqual(self.request("POST", "/api/delete", {"model": "x"})[0], 405)
        status, _, reply = self.post_json("/api/generate", {"model": "mine", "prompt": "hi"})
        self.assertEqual(status, 404, reply)
        stats = self.stats()
        self.assertEqual((stats["copies"], stats["deletes"]), (1, 1))

    def test_a_deleted_loaded_model_stays_loaded_as_in_ollama(self):
        self.start()
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2"})[0], 200)
        self.assertEqual(self.request("DELETE", "/api/delete", {"model": "llama3.2"})[0], 200)
        status, _, data = self.request("GET", "/api/ps")
        self.assertEqual([m["name"] for m in json.loads(data)["models"]], ["llama3.2:latest"])

    def test_push_reports_layers_and_a_missing_model_gets_the_file_error(self):
        self.start(extra=("--pull-delay-ms", "0"))
        status, ctype, data = self.request("POST", "/api/push", {"model": "llama3.2"})
        self.assertEqual((status, ctype), (200, "application/x-ndjson"))
        lines = ndjson(data)
        self.assertEqual(lines[0], {"status": "retrieving manifest"})
        self.assertTrue(lines[1]["status"].startswith("pushing "))
        self.assertEqual([l["status"] for l in lines[-2:]], ["pushing manifest", "success"])
        status, ctype, data = self.request("POST", "/api/push", {"model": "ghost"})
        missing = ("open /usr/share/ollama/.ollama/models/manifests/registry.ollama.ai/library/"
                   "ghost/latest: no such file or directory")
        self.assertEqual(ndjson(data), [{"status": "retrieving manifest"},
                                        {"status": "couldn't retrieve manifest"},
                                        {"error": missing}])
        status, ctype, data = self.request("POST", "/api/push", {"model": "ghost", "stream": False})
        self.assertEqual((status, json.loads(data)), (500, {"error": missing}))
        self.assertEqual(self.stats()["pushes"], 1)

    def test_create_from_an_installed_model_reuses_its_layers(self):
        self.start()
        body = {"model": "pirate", "from": "llama3.2", "system": "Talk like a pirate."}
        status, ctype, data = self.request("POST", "/api/create", body)
        self.assertEqual((status, ctype), (200, "application/x-ndjson"))
        lines = [l["status"] for l in ndjson(data)]
        import hashlib
        system = "sha256:" + hashlib.sha256(b"Talk like a pirate.").hexdigest()
        self.assertEqual(len(lines), 6, lines)
        for line in lines[:3]:
            self.assertRegex(line, r"^using existing layer sha256:[0-9a-f]{64}$")
        self.assertEqual(lines[3:], ["creating new layer " + system, "writing manifest", "success"])
        tags = self.tags()
        self.assertNotEqual(tags["pirate:latest"]["digest"], tags["llama3.2:latest"]["digest"])
        # The same system prompt again: the layer exists now.
        lines = [l["status"] for l in ndjson(self.request("POST", "/api/create", body)[2])]
        self.assertEqual(lines[3], "using existing layer " + system)
        self.assertEqual(self.stats()["creates"], 2)

    def test_create_errors_follow_ollama(self):
        self.start(extra=("--pull-delay-ms", "0"))
        self.configure(pull_fail=["ghost"])
        self.assertEqual(self.post_json("/api/create", {"model": "x"}),
                         (400, "application/json",
                          {"error": "neither 'from' or 'files' was specified"}))
        self.assertEqual(self.post_json("/api/create", {"model": "x", "from": "a b"}),
                         (400, "application/json", {"error": "invalid model name"}))
        self.assertEqual(self.post_json("/api/create", {"model": "", "from": "llama3.2"}),
                         (400, JSON_TYPE, {"error": "invalid model name"}))
        self.assertEqual(
            self.post_json("/api/create", {"model": "x", "files": {"/abs.gguf": "sha256:00"}}),
            (400, JSON_TYPE, {"error": "file path must be relative"}))
        # An unknown base is pulled first, and its pull's failure ends the stream.
        status, _, data = self.request("POST", "/api/create", {"model": "x", "from": "ghost"})
        self.assertEqual((status, ndjson(data)),
                         (200, [{"status": "pulling manifest"},
                                {"error": "pull model manifest: file does not exist"}]))
        status, _, data = self.request("POST", "/api/create",
                                       {"model": "x", "from": "ghost", "stream": False})
        self.assertEqual((status, json.loads(data)),
                         (500, {"error": "pull model manifest: file does not exist"}))
        status, _, data = self.request("POST", "/api/create",
                                       {"model": "x", "from": "llama3.2", "quantize": "q8_0"})
        self.assertEqual((status, json.loads(data)),
                         (500, {"error": "quantization is only supported for F16, BF16 and F32 "
                                         "models"}))
        # A base the registry has is pulled, then used.
        lines = [l["status"] for l in ndjson(self.request(
            "POST", "/api/create", {"model": "y", "from": "fresh"})[2])]
        self.assertEqual(lines[0], "pulling manifest")
        self.assertEqual(lines[-1], "success")
        self.assertIn("fresh:latest", self.tags())
        self.assertIn("y:latest", self.tags())

    def test_blobs_are_checked_against_their_sha256_and_feed_create(self):
        import hashlib
        self.start()
        data = b"GGUF" + b"\0" * 60
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.assertEqual(self.request("HEAD", "/api/blobs/" + digest)[0], 404)
        status, _, reply = self.request("POST", "/api/blobs/sha256:" + "0" * 64, data)
        self.assertEqual((status, json.loads(reply)),
                         (400, {"error": f'digest mismatch, expected "sha256:{"0" * 64}", '
                                         f'got "{digest}"'}))
        self.assertEqual(self.request("POST", "/api/blobs/" + digest, data)[0:1], (201,))
        self.assertEqual(self.request("POST", "/api/blobs/" + digest, data)[0], 200)
        self.assertEqual(self.request("HEAD", "/api/blobs/" + digest)[0], 200)
        status, _, reply = self.request("HEAD", "/api/blobs/nope")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(self.request("POST", "/api/blobs/nope", b"")[2]),
                         {"error": "invalid digest format"})
        lines = [l["status"] for l in ndjson(self.request(
            "POST", "/api/create", {"model": "local", "files": {"m.gguf": digest}})[2])]
        self.assertEqual(lines, ["parsing GGUF", "using existing layer " + digest,
                                 "writing manifest", "success"])
        self.assertIn("local:latest", self.tags())
        missing = "sha256:" + "1" * 64
        lines = ndjson(self.request("POST", "/api/create",
                                    {"model": "z", "files": {"m.gguf": missing}})[2])
        self.assertEqual(lines[-1], {"error": "open /usr/share/ollama/.ollama/models/blobs/"
                                              "sha256-" + "1" * 64 + ": no such file or directory"})
        stats = self.stats()
        self.assertEqual((stats["blobs_stored"], stats["requests_by_path"]["/api/blobs"]), (1, 7))

    def test_a_request_body_past_max_body_bytes_gets_413(self):
        self.start(extra=("--max-body-bytes", "2048"))
        status = self.request("POST", "/api/blobs/sha256:" + "0" * 64, b"x" * 4096)[0]
        self.assertEqual(status, 413)

    def test_digest_salt_changes_every_digest(self):
        a = self.start("a")
        digest = self.tags()["llama3.2:latest"]["digest"]
        self.configure(digest_salt="other")
        salted = self.tags()["llama3.2:latest"]["digest"]
        self.assertNotEqual(digest, salted)
        self.configure(digest_salt="")
        self.assertEqual(self.tags()["llama3.2:latest"]["digest"], digest)
        self.s = self.sim("b", extra=("--digest-salt", "other"))
        self.assertEqual(self.tags()["llama3.2:latest"]["digest"], salted)
        self.s = a


class Memory(SimTestCase):
    """memory_bytes: a model that does not fit fails at load with Ollama's 500."""

    def test_a_model_larger_than_memory_fails_before_any_answer_byte(self):
        self.start(models=("llama3.2", "tiny:1b", "small:1b"),
                   extra=("--memory-bytes", str(1 << 30), "--model-sizes",
                          f"llama3.2={5 * (1 << 30) // 2}"))
        self.assertEqual(self.tags()["llama3.2:latest"]["size"], 5 * (1 << 30) // 2)
        message = "model requires more system memory (2.5 GiB) than is available (1.0 GiB)"
        for path, body in (("/api/generate", {"model": "llama3.2", "prompt": "hi"}),
                           ("/api/chat", {"model": "llama3.2",
                                          "messages": [{"role": "user", "content": "hi"}]}),
                           ("/api/generate", {"model": "llama3.2"})):
            self.assertEqual(self.post_json(path, body), (500, JSON_TYPE, {"error": message}))
        status, _, reply = self.post_json("/api/generate",
                                          {"model": "tiny:1b", "prompt": "hi", "stream": False})
        self.assertEqual(status, 200, reply)
        self.configure(memory_bytes=0)
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2"})[0], 200)
        self.configure(memory_bytes=1 << 20, model_sizes={"small:1b": 3 << 20})
        # A loaded model is not refused; one that is not is.
        self.assertEqual(self.post_json("/api/generate", {"model": "llama3.2"})[0], 200)
        self.assertEqual(self.post_json("/api/embed", {"model": "small:1b", "input": "x"}),
                         (500, JSON_TYPE, {"error": "model requires more system memory "
                                                    "(3.0 MiB) than is available (1.0 MiB)"}))
        self.assertEqual(self.stats()["memory_failures"], 4)


class SlotsAndManagement(SimTestCase):
    """Slots are per model, and metadata and management never wait for one."""

    def test_metadata_and_management_answer_while_every_slot_is_busy(self):
        self.start(models=("llama3.2", "qwen2.5"), tokens=200, token_delay_ms=50,
                   extra=("--parallel", "1", "--pull-delay-ms", "0"))
        held, resp = self.stream("/api/generate", {"model": "llama3.2", "prompt": "hold"})
        try:
            self.assertFalse(json.loads(resp.readline())["done"])
            # Another model has its own slot: it answers while llama3.2's only slot is taken.
            self.configure(tokens=1, token_delay_ms=0)
            status, _, reply = self.post_json("/api/generate", {"model": "qwen2.5",
                                                                "prompt": "x", "stream": False})
            self.assertEqual((status, reply["done"]), (200, True))
            for method, path, body in (("GET", "/api/tags", None), ("GET", "/api/ps", None),
                                       ("POST", "/api/show", {"model": "llama3.2"}),
                                       ("POST", "/api/pull", {"model": "x", "stream": False}),
                                       ("POST", "/api/copy", {"source": "x", "destination": "y"}),
                                       ("DELETE", "/api/delete", {"model": "y"})):
                self.assertEqual(self.request(method, path, body)[0], 200, path)
            self.assertEqual(self.stats()["in_flight"], 1)
        finally:
            held.close()

if __name__ == "__main__":
    unittest.main()
