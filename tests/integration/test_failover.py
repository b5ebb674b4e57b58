"""A backend killed (SIGKILL) part-way through an answer: what the caller sees.

Unary calls run again on another backend; chat streams and raw generate streams continue on
another backend from the text delivered so far, and the spliced answer equals an uninterrupted
one (ollama-sim continues a trailing assistant message, or a raw prompt's tail, where it ends);
a templated generate stream ends UNAVAILABLE saying how many tokens the caller had.
"""
import http.client
import json
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

    def test_an_openai_chat_stream_continues(self):
        host, port = self.http.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.addCleanup(conn.close)
        body = {"model": "llama3.2", "stream": True,
                "messages": [{"role": "user", "content": "hello there"}]}
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        chunks, texts = [], []
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: "):])
            chunks.append(chunk)
            texts.append(chunk["choices"][0]["delta"]["content"])
            if len(texts) == CUT_AFTER:
                killed = self.kill_backend_of(texts[0])
        self.assertEqual("".join(texts),
                         "".join(harness.sim_tokens(killed, "hello there", TOKENS)))
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(chunks[-1]["x-gateway-continued"], 1)
        self.assertEqual(sum("x-gateway-continued" in c for c in chunks), 1)

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


if __name__ == "__main__":
    unittest.main()
