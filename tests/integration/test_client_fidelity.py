"""Everything a real Ollama, OpenAI, Anthropic or gRPC client sends works through the gateway
exactly as it does against the backend itself.

Each official client (tests/js: the `ollama`, `openai` and `@anthropic-ai/sdk` npm clients and
LangChain's ChatOllama) runs the same checks twice: against the gateway, and against the one
ollama-sim behind it directly. Every check returns an `answer` with no ids or times in it
(thinking, tool calls and their arguments, the text, the usage), and the two runs must give the
same answers. The simulator is deterministic, so a field the gateway dropped, reshaped or
translated differently shows up as a difference.
"""
import json
import os
import shutil
import subprocess
import tempfile

import harness

MODEL = "llama3.2"
TOOL_MODEL = "qwen3"  # ollama-sim: a qwen3 model thinks and calls tools
EMBED_MODEL = "nomic-embed-text"
CODE_MODEL = "qwen2.5-coder"  # ollama-sim: a "code" model fills in the middle
# tests/js/lib.mjs's weather tool.
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "the city"},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"]}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": WEATHER_PARAMETERS}}
JS_DIR = os.path.join(harness.SOURCE_DIR, "tests", "js")

CHECKS = {
    "ollama_client.mjs": "chat-think-tools,chat-think-stream,generate-images,embeddings-legacy,"
                         "show",
    "openai_client.mjs": "chat-tools,chat-tools-stream,tool-result,responses,responses-tool,"
                         "completions-suffix,models-retrieve,embeddings",
    "anthropic_client.mjs": "messages,messages-tool,messages-stream-tool,error-unknown-model",
    "langchain_client.mjs": "invoke,bind-tools",
}


class ClientFidelityTest(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.sim_a = self.sim("gpu-a", models=(MODEL, TOOL_MODEL, EMBED_MODEL, CODE_MODEL),
                              tokens=12)
        self.gw = self.gateway(harness.gateway_config(
            [("gpu-a", self.sim_a.url, None)],
            extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n"))
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.base = "http://" + fields["http"]
        harness.wait_for(lambda: len(json.loads(harness.http_get(self.base + "/api/tags")[1])
                                     .get("models", [])) == 4, 10, "the backend to be healthy")

    def run_client(self, script, base):
        if shutil.which("node") is None or not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
            self.fail("node and tests/js/node_modules are needed: run bash scripts/install-deps.sh")
        proc = subprocess.run(
            ["node", os.path.join(JS_DIR, script), "--base-url", base, "--model", MODEL,
             "--tool-model", TOOL_MODEL, "--embed-model", EMBED_MODEL, "--check", CHECKS[script],
             *(("--code-model", CODE_MODEL) if script == "openai_client.mjs" else ())],
            capture_output=True, text=True, timeout=120)
        checks = {c["check"]: c for c in
                  (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}
        self.assertEqual(proc.returncode, 0, f"{script} against {base}:\n{proc.stdout}{proc.stderr}")
        return checks

    def assert_same_answers(self, script):
        direct = self.run_client(script, self.sim_a.url)
        through = self.run_client(script, self.base)
        self.assertEqual(sorted(direct), sorted(CHECKS[script].split(",")))
        for name, check in direct.items():
            want = check["detail"].get("answer", check["detail"])
            got = through[name]["detail"].get("answer", through[name]["detail"])
            self.assertEqual(got, want, f"{script} {name}: the gateway's answer differs from the "
                                        "backend's")

    def test_the_ollama_client_thinks_calls_tools_sees_images_and_legacy_embeddings(self):
        self.assert_same_answers("ollama_client.mjs")

    def test_the_openai_client_calls_tools_on_chat_and_responses_and_fills_the_middle(self):
        self.assert_same_answers("openai_client.mjs")

    def test_the_anthropic_client_creates_and_streams_messages_with_a_tool(self):
        self.assert_same_answers("anthropic_client.mjs")

    def test_langchain_chat_ollama_binds_tools(self):
        self.assert_same_answers("langchain_client.mjs")

    def test_what_the_gateway_forwarded_is_what_the_client_sent(self):
        """The compatibility endpoints reach the backend's own layer with the caller's fields."""
        body = {"model": TOOL_MODEL, "max_tokens": 64, "tools": [
            {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
            "thinking": {"type": "enabled", "budget_tokens": 32},
            "messages": [{"role": "user", "content": "hi"}]}
        answer = harness.http_post_json(self.base + "/v1/messages", body)
        self.assertEqual(answer["type"], "message")
        seen = json.loads(harness.http_get(self.sim_a.url + "/sim/requests")[1])
        forwarded = [r for r in seen if r["path"] == "/v1/messages"]
        self.assertEqual(len(forwarded), 1)
        self.assertEqual(json.loads(forwarded[0]["body"]), body)


class GrpcFidelityTest(harness.ProcessTestCase):
    """Python grpcio against the proto's thinking, tool, generate and option fields: the answer
    through the gateway is the one the backend gives the same call on its own /api/chat or
    /api/generate."""

    def setUp(self):
        super().setUp()
        import grpc
        self.grpc = grpc
        self.pb2, pb2_grpc = harness.grpc_modules()
        self.sim_a = self.sim("gpu-a", models=(MODEL, TOOL_MODEL, EMBED_MODEL, CODE_MODEL),
                              tokens=12)
        self.gw = self.gateway(harness.gateway_config([("gpu-a", self.sim_a.url, None)]))
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(channel)
        harness.wait_for(lambda: harness.http_get(f"http://{self.gw.admin}/readyz")[0] == 200, 10,
                         "the gateway to be ready")

    def direct(self, path, body):
        return harness.http_post_json(self.sim_a.url + path, dict(body, stream=False))

    def weather_tool(self):
        return self.pb2.Tool(name="get_weather", description="The weather in a city",
                             parameters_json=json.dumps(WEATHER_PARAMETERS))

    def test_thinking_is_on_by_default_off_on_request_and_has_levels(self):
        question = [{"role": "user", "content": "Why is the sky blue?"}]
        for think, field in ((None, None), (False, False), ("high", "high")):
            request = self.pb2.InferenceRequest(
                model_name=TOOL_MODEL, messages=[self.pb2.ChatMessage(**question[0])])
            body = {"model": TOOL_MODEL, "messages": question}
            if isinstance(think, bool):
                request.think.enabled = think
                body["think"] = think
            elif think:
                request.think.level = think
                body["think"] = think
            got = self.stub.Predict(request, timeout=10)
            want = self.direct("/api/chat", body)["message"]
            self.assertEqual(got.thinking, want.get("thinking", ""), think)
            self.assertEqual(got.output_data.decode(), want["content"], think)
        self.assertEqual(got.thinking != "", True)
        streamed = list(self.stub.PredictStream(self.pb2.InferenceRequest(
            model_name=TOOL_MODEL, messages=[self.pb2.ChatMessage(**question[0])],
            think=self.pb2.Think(level="low")), timeout=10))
        self.assertEqual("".join(m.thinking for m in streamed),
                         self.direct("/api/chat", {"model": TOOL_MODEL, "messages": question,
                                                   "think": "low"})["message"]["thinking"])

    def test_a_tool_call_comes_back_and_its_result_is_answered(self):
        question = self.pb2.ChatMessage(role="user", content="What is the weather in Paris?")
        request = self.pb2.InferenceRequest(model_name=TOOL_MODEL, messages=[question],
                                            tools=[self.weather_tool()],
                                            think=self.pb2.Think(enabled=False))
        got = self.stub.Predict(request, timeout=10)
        want = self.direct("/api/chat", {
            "model": TOOL_MODEL, "think": False, "tools": [WEATHER_TOOL],
            "messages": [{"role": "user", "content": question.content}]})["message"]
        self.assertEqual(len(got.tool_calls), 1)
        call = got.tool_calls[0]
        self.assertEqual(call.name, "get_weather")
        self.assertEqual(call.id, want["tool_calls"][0]["id"])
        self.assertEqual(json.loads(call.arguments_json), want["tool_calls"][0]["function"]["arguments"])
        streamed = [m for m in self.stub.PredictStream(request, timeout=10) if m.tool_calls]
        self.assertEqual(len(streamed), 1)
        self.assertEqual(streamed[0].tool_calls[0].arguments_json, call.arguments_json)
        # The tool's result, as a "tool" turn: the model answers it in words.
        answered = self.stub.Predict(self.pb2.InferenceRequest(
            model_name=TOOL_MODEL, tools=[self.weather_tool()], think=self.pb2.Think(enabled=False),
            messages=[question,
                      self.pb2.ChatMessage(role="assistant", tool_calls=[call]),
                      self.pb2.ChatMessage(role="tool", tool_name="get_weather",
                                           content="sunny, 21 degrees")]), timeout=10)
        self.assertFalse(answered.tool_calls)
        self.assertTrue(answered.output_data)
        forwarded = json.loads(json.loads(harness.http_get(
            self.sim_a.url + "/sim/requests")[1])[-1]["body"])
        self.assertEqual(forwarded["messages"][1]["tool_calls"][0]["function"]["arguments"],
                         json.loads(call.arguments_json))
        self.assertEqual(forwarded["messages"][2]["tool_name"], "get_weather")

    def test_generate_fields_options_and_an_empty_prompt_that_loads_and_unloads(self):
        def forwarded():
            return json.loads(json.loads(harness.http_get(
                self.sim_a.url + "/sim/requests")[1])[-1]["body"])

        got = self.stub.Predict(self.pb2.InferenceRequest(
            model_name=CODE_MODEL, input_data=b"def add(a, b):", suffix="    return c", raw=True,
            images=[b"\x89PNG"], extra_options={"min_p": "0.05", "mirostat": "2"}), timeout=10)
        self.assertTrue(got.done)
        sent = forwarded()
        self.assertEqual(sent["suffix"], "    return c")
        self.assertEqual(sent["raw"], True)
        self.assertEqual(sent["images"], ["iVBORw=="])
        self.assertEqual(sent["options"], {"min_p": 0.05, "mirostat": 2})
        self.stub.Predict(self.pb2.InferenceRequest(
            model_name=MODEL, input_data=b"and then?", context=[1, 2, 3]), timeout=10)
        self.assertEqual(forwarded()["context"], [1, 2, 3])
        loaded = self.stub.Predict(self.pb2.InferenceRequest(model_name=MODEL), timeout=10)
        self.assertEqual((loaded.done, loaded.done_reason, loaded.output_data), (True, "load", b""))
        unloaded = self.stub.Predict(self.pb2.InferenceRequest(model_name=MODEL, keep_alive="0"),
                                     timeout=10)
        self.assertEqual(unloaded.done_reason, "unload")
        harness.assert_rpc_error(self, self.grpc.StatusCode.INVALID_ARGUMENT,
                                 lambda: self.stub.Predict(self.pb2.InferenceRequest(
                                     model_name=MODEL, extra_options={"num_ctx": "8"}), timeout=10),
                                 "which is a field of options")

    def test_gatewayctl_thinks_and_prints_tool_calls(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump([WEATHER_TOOL], f)
        self.addCleanup(os.unlink, f.name)
        out = subprocess.run(
            [harness.binary("gatewayctl"), "predict", "--insecure", "--target", self.gw.target,
             "--model", TOOL_MODEL, "--think", "low", "--tools", f.name,
             "What is the weather in Paris?"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        call = json.loads(out.stdout.splitlines()[0])["tool_call"]
        want = self.direct("/api/chat", {
            "model": TOOL_MODEL, "think": "low", "tools": [WEATHER_TOOL],
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}]})["message"]
        self.assertEqual(call["arguments"], want["tool_calls"][0]["function"]["arguments"])
        self.assertTrue(out.stderr.startswith(want["thinking"]), out.stderr)
        bad = subprocess.run([harness.binary("gatewayctl"), "predict", "--insecure", "--target",
                              self.gw.target, "--model", MODEL, "--think", "maybe", "hi"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--think needs true, false, low, medium, high or max", bad.stderr)

    def test_embed_show_and_list_models(self):
        got = self.stub.Embed(self.pb2.EmbedRequest(model_name=EMBED_MODEL, input=["a", "bc"]),
                              timeout=10)
        want = self.direct("/api/embed", {"model": EMBED_MODEL, "input": ["a", "bc"]})
        self.assertEqual(len(got.embeddings), 2)
        for vector, expected in zip(got.embeddings, want["embeddings"]):
            self.assertEqual(len(vector.values), len(expected))
            for x, y in zip(vector.values, expected):
                self.assertAlmostEqual(x, y, places=5)
        self.assertEqual(got.usage.prompt_tokens, want["prompt_eval_count"])
        shown = self.stub.Show(self.pb2.ShowRequest(model_name=TOOL_MODEL), timeout=10)
        want = self.direct("/api/show", {"model": TOOL_MODEL})
        self.assertEqual(json.loads(shown.json), want)
        self.assertEqual(list(shown.capabilities), want["capabilities"])
        self.assertIn("thinking", shown.capabilities)
        self.assertEqual(shown.family, want["details"]["family"])
        listed = self.stub.ListModels(self.pb2.ListModelsRequest(), timeout=10)
        self.assertEqual([m.name for m in listed.models],
                         sorted(["llama3.2:latest", "qwen3:latest", "nomic-embed-text:latest",
                                 "qwen2.5-coder:latest"]))
        self.assertEqual([(b.name, b.healthy) for b in listed.models[0].backends],
                         [("gpu-a", True)])
        harness.assert_rpc_error(self, self.grpc.StatusCode.NOT_FOUND,
                                 lambda: self.stub.Show(self.pb2.ShowRequest(model_name="nope"),
                                                        timeout=10), "'nope'")
        out = subprocess.run([harness.binary("gatewayctl"), "embed", "--insecure", "--target",
                              self.gw.target, "--model", EMBED_MODEL, "a", "bc"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([len(json.loads(line)) for line in out.stdout.splitlines()],
                         [len(v.values) for v in got.embeddings])
        out = subprocess.run([harness.binary("gatewayctl"), "models", "--insecure", "--target",
                              self.gw.target], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("qwen3:latest  gpu-a,healthy", out.stdout.splitlines())

    def test_logprobs_and_the_context_come_back(self):
        request = self.pb2.InferenceRequest(model_name=MODEL, input_data=b"Once upon",
                                            logprobs=True, top_logprobs=2)
        got = self.stub.Predict(request, timeout=10)
        want = self.direct("/api/generate", {"model": MODEL, "prompt": "Once upon",
                                             "logprobs": True, "top_logprobs": 2})
        self.assertEqual(len(got.logprobs), len(want["logprobs"]))
        for mine, theirs in zip(got.logprobs, want["logprobs"]):
            self.assertEqual(mine.token, theirs["token"])
            self.assertAlmostEqual(mine.logprob, theirs["logprob"])
            self.assertEqual(list(mine.bytes), theirs.get("bytes", list(mine.bytes)))
            self.assertEqual([t.token for t in mine.top_logprobs],
                             [t["token"] for t in theirs["top_logprobs"]])
        self.assertEqual(list(got.context), want["context"])
        streamed = list(self.stub.PredictStream(request, timeout=10))
        self.assertEqual(sum(len(m.logprobs) for m in streamed), len(want["logprobs"]))
        self.assertEqual(list(streamed[-1].context), want["context"])
        harness.assert_rpc_error(self, self.grpc.StatusCode.INVALID_ARGUMENT,
                                 lambda: self.stub.Predict(self.pb2.InferenceRequest(
                                     model_name=MODEL, input_data=b"x", logprobs=True,
                                     top_logprobs=21), timeout=10), "0 to 20")
