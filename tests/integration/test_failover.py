"""A backend killed (SIGKILL) part-way through an answer: what the caller sees.

Unary calls run again on another backend; native chat streams and raw generate streams continue
on another backend from the text delivered so far, and the spliced answer equals an uninterrupted
one (ollama-sim continues a trailing assistant message, or a raw prompt's tail, where it ends);
a templated generate stream ends UNAVAILABLE saying how many tokens the caller had, and a /v1
stream (the backend's own compatibility layer's) ends with an error event in its API's shape.
"""
import http.client
import http.server
import json
import threading
import unittest

import grpc

import harness
from harness import ProcessTestCase, gateway_config

pb2, pb2_grpc = harness.grpc_modules()

TOKENS = 12
CUT_AFTER = 4  # chunks the caller reads before its backend is killed
NAMES = ("gpu-a", "gpu-b", "gpu-c")


class FailoverTestCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        # Slow enough that the kill lands mid-answer, fast enough to keep the test short.
        self.sims = {n: self.sim(n, tokens=TOKENS, token_delay_ms=40) for n in NAMES}
        self.gw = self.gateway(gateway_config(
            [(n, s.url, ["llama3.2"]) for n, s in self.sims.items()],
            extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n"))
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.http = fields["http"]
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(channel)

    def kill_backend_of(self, first_text):
        """Kills the sim whose first token ("[NAME]") the caller got; returns its name."""
        name = first_text.strip("[]")
        self.assertIn(name, self.sims, first_text)
        self.sims[name].kill()
        return name

    def metric(self, series):
        text = harness.http_get(f"http://{self.gw.admin}/metrics")[1]
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0

    def stream_http(self, path, body):
        """POSTs a streamed call; yields each NDJSON line (parsed) as it arrives."""
        host, port = self.http.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.addCleanup(conn.close)
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        for raw in response:
            if raw.strip():
                yield json.loads(raw)


class UnaryRerunTest(FailoverTestCase):
    def generating(self):
        """The names of the sims with a generation in progress."""
        return [n for n, sim in self.sims.items() if sim.alive() and
                json.loads(harness.http_get(sim.url + "/sim/stats")[1])["in_flight"] > 0]

    def test_a_predict_whose_backend_dies_mid_answer_gets_one_whole_answer(self):
        # The caller of a unary call sees nothing until the end, so the gateway can start over.
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"tell me")
        future = self.stub.Predict.future(request, timeout=20)
        harness.wait_for(lambda: len(self.generating()) == 1, 5, "the generation to start")
        killed = self.generating()[0]
        self.sims[killed].kill()
        response = future.result()
        trailers = dict(future.trailing_metadata())
        self.assertNotEqual(trailers["x-gateway-backend"], killed)
        self.assertEqual(trailers["x-gateway-attempts"], "2")
        self.assertEqual(response.output_data.decode(),
                         "".join(harness.sim_tokens(trailers["x-gateway-backend"], "tell me",
                                                    TOKENS)))
        self.assertEqual(response.usage.completion_tokens, TOKENS)


class ChatStreamContinuationTest(FailoverTestCase):
    def test_a_grpc_chat_stream_continues_on_another_backend(self):
        request = pb2.InferenceRequest(model_name="llama3.2", messages=[
            pb2.ChatMessage(role="user", content="tell me a story")])
        stream = self.stub.PredictStream(request, timeout=30)
        texts = []
        for message in stream:
            texts.append(message.output_data.decode())
            if len(texts) == CUT_AFTER:
                killed = self.kill_backend_of(texts[0])
        last = message
        # The answer the killed backend would have given, with no text twice or missing.
        self.assertEqual("".join(texts),
                         "".join(harness.sim_tokens(killed, "tell me a story", TOKENS)))
        self.assertTrue(last.done)
        self.assertEqual(last.done_reason, "stop")
        self.assertEqual(last.usage.completion_tokens, TOKENS)  # both attempts' tokens
        trailers = dict(stream.trailing_metadata())
        self.assertEqual(trailers["x-gateway-continued"], "1")
        self.assertEqual(trailers["x-gateway-attempts"], "2")
        self.assertNotEqual(trailers["x-gateway-backend"], killed)
        self.assertEqual(self.metric('gateway_stream_continuations_total{outcome="ok"}'), 1)

    def test_an_http_chat_stream_continues_with_one_final_chunk(self):
        body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello there"}]}
        lines = []
        for line in self.stream_http("/api/chat", body):
            lines.append(line)
            if len(lines) == CUT_AFTER:
                killed = self.kill_backend_of(lines[0]["message"]["content"])
        text = "".join(line["message"]["content"] for line in lines)
        self.assertEqual(text, "".join(harness.sim_tokens(killed, "hello there", TOKENS)))
        self.assertEqual([line["done"] for line in lines], [False] * TOKENS + [True])
        final = lines[-1]
        self.assertEqual(final["eval_count"], TOKENS)
        self.assertEqual(final["x-gateway-continued"], 1)
        self.assertEqual(final["done_reason"], "stop")

    def test_an_openai_chat_stream_cut_short_ends_with_an_error_event_naming_the_backend(self):
        # /v1 streams are the backend's own (Ollama's compatibility layer writes them): they are
        # retried before their first byte, but not continued mid-way.
        host, port = self.http.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.addCleanup(conn.close)
        body = {"model": "llama3.2", "stream": True,
                "messages": [{"role": "user", "content": "hello there"}]}
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        events, texts = [], []
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            events.append(line)
            chunk = json.loads(line[len("data: "):])
            content = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content")
            if content:
                texts.append(content)
                if len(texts) == CUT_AFTER:
                    killed = self.kill_backend_of(texts[0])
        self.assertNotIn("data: [DONE]", events)
        error = json.loads(events[-1][len("data: "):])["error"]
        self.assertIn(f"backend '{killed}'", error["message"])
        self.assertEqual(error["type"], "api_error")
        self.assertEqual(len(texts), CUT_AFTER)
        self.assertEqual(self.metric('gateway_stream_continuations_total{outcome="ok"}'), 0)

    def test_a_raw_generate_stream_continues_from_its_prompt_and_the_text_so_far(self):
        body = {"model": "llama3.2", "prompt": "Once upon", "raw": True}
        lines = []
        for line in self.stream_http("/api/generate", body):
            lines.append(line)
            if len(lines) == CUT_AFTER:
                killed = self.kill_backend_of(lines[0]["response"])
        text = "".join(line["response"] for line in lines)
        self.assertEqual(text, "".join(harness.sim_tokens(killed, "Once upon", TOKENS)))
        self.assertEqual(lines[-1]["eval_count"], TOKENS)
        self.assertEqual(lines[-1]["x-gateway-continued"], 1)

    def test_a_templated_generate_stream_ends_unavailable_naming_the_tokens_delivered(self):
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"tell me")
        texts = []
        with self.assertRaises(grpc.RpcError) as ctx:
            for message in self.stub.PredictStream(request, timeout=30):
                texts.append(message.output_data.decode())
                if len(texts) == CUT_AFTER:
                    self.kill_backend_of(texts[0])
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn(f"after {CUT_AFTER} tokens of the answer had reached the caller; "
                      "not continued: a templated generate", ctx.exception.details())
        self.assertEqual(len(texts), CUT_AFTER)
        self.assertEqual(
            self.metric('gateway_stream_continuations_total{outcome="not_continuable"}'), 1)



class ToolCallBackend(http.server.ThreadingHTTPServer):
    """An Ollama that answers /api/chat with one tool-call chunk and then drops the connection
    (ollama-sim generates no tool calls)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ToolCallHandler)
        self.chats = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class ToolCallHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, value):
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/api/version":
            return self.reply({"version": "0.12.3"})
        if self.path == "/api/tags":
            return self.reply({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest",
                                           "digest": "d" * 64, "size": 1}]})
        if self.path == "/api/ps":
            return self.reply({"models": []})
        self.reply({})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.chats += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = json.dumps({"model": "llama3.2", "done": False, "message": {
            "role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "get_weather",
                                         "arguments": {"city": "Paris"}}}]}}).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()
        self.close_connection = True  # no last chunk: the stream is cut mid-answer


class ToolCallStreamTest(ProcessTestCase):
    def test_a_stream_in_the_middle_of_a_tool_call_is_not_continued(self):
        tools = ToolCallBackend()
        self.addCleanup(tools.server_close)
        self.addCleanup(tools.shutdown)
        sim = self.sim("gpu-b", tokens=TOKENS)
        gw = self.gateway(gateway_config(
            [("tools", tools.url, ["llama3.2"]), ("gpu-b", sim.url, ["llama3.2"])],
            extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n"))
        harness.wait_for(lambda: all(
            b["healthy"] for b in json.loads(
                harness.http_get(f"http://{gw.admin}/admin/backends")[1])["backends"]),
            10, "both backends to be healthy")
        http_address = dict(kv.split("=", 1) for kv in gw.first_line.split()[1:])["http"]
        host, port = http_address.rsplit(":", 1)
        body = {"model": "llama3.2", "messages": [{"role": "user", "content": "weather?"}],
                "tools": [{"type": "function", "function": {"name": "get_weather"}}]}
        # Round-robin sends one of the first two calls to the tool-calling backend.
        for _ in range(2):
            conn = http.client.HTTPConnection(host, int(port), timeout=20)
            self.addCleanup(conn.close)
            conn.request("POST", "/api/chat", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            lines = [json.loads(raw) for raw in response if raw.strip()]
            if response.getheader("x-gateway-backend") == "tools":
                break
        self.assertEqual(response.getheader("x-gateway-backend"), "tools")
        self.assertEqual(tools.chats, 1)
        # The tool call reached the caller, then the stream ended with the error, not continued
        # (a continuation could call the tool twice).
        self.assertEqual(lines[0]["message"]["tool_calls"][0]["function"]["name"], "get_weather")
        self.assertIn("error", lines[-1])
        self.assertIn("not continued: the stream was in a tool call", lines[-1]["error"])
        self.assertFalse(any(line.get("done") for line in lines))
        self.assertIn('gateway_stream_continuations_total{outcome="tool_call"} 1',
                      harness.http_get(f"http://{gw.admin}/metrics")[1])

if __name__ == "__main__":
    unittest.main()
