"""Everything a real Ollama, OpenAI or Anthropic client sends works through the gateway exactly as
it does against the backend itself.

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

import harness

MODEL = "llama3.2"
TOOL_MODEL = "qwen3"  # ollama-sim: a qwen3 model thinks and calls tools
EMBED_MODEL = "nomic-embed-text"
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
        self.sim_a = self.sim("gpu-a", models=(MODEL, TOOL_MODEL, EMBED_MODEL), tokens=12)
        self.gw = self.gateway(harness.gateway_config(
            [("gpu-a", self.sim_a.url, None)],
            extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n"))
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.base = "http://" + fields["http"]
        harness.wait_for(lambda: len(json.loads(harness.http_get(self.base + "/api/tags")[1])
                                     .get("models", [])) == 3, 10, "the backend to be healthy")

    def run_client(self, script, base):
        if shutil.which("node") is None or not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
            self.fail("node and tests/js/node_modules are needed: run bash scripts/install-deps.sh")
        proc = subprocess.run(
            ["node", os.path.join(JS_DIR, script), "--base-url", base, "--model", MODEL,
             "--tool-model", TOOL_MODEL, "--embed-model", EMBED_MODEL, "--check", CHECKS[script]],
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
