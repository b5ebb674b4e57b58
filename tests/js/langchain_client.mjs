#!/usr/bin/env node
// Drives an Ollama-compatible server (the gateway, or Ollama / ollama-sim itself) with LangChain's
// unmodified `@langchain/ollama` ChatOllama, tools bound with bindTools, as LangChain agents call
// Ollama. One JSON line per check on stdout: {"check": name, "ok": bool, "detail": ...}; exit 0
// only if every selected check passed. See README.md.
import { ChatOllama } from '@langchain/ollama';
import { clip, DRIVER_FLAGS, expect, expectWeatherArguments, parseFlags, runChecks, WEATHER_TOOL } from './lib.mjs';

const USAGE = `usage: node langchain_client.mjs --base-url URL --model NAME [--api-key KEY] [--check NAMES]
                                  [--tool-model NAME] [--timeout-ms MS]

  --base-url URL      server root, e.g. http://127.0.0.1:11434
  --model NAME        an installed generative model
  --api-key KEY       sent as "Authorization: Bearer KEY" (omitted when not given)
  --check NAMES       comma-separated checks, or "all" (default)
  --tool-model NAME   a model that calls tools (default: --model)
  --timeout-ms MS     per-check timeout (default 20000)

checks: invoke bind-tools
`;

const flags = parseFlags(process.argv.slice(2), DRIVER_FLAGS, USAGE);
const BASE_URL = flags['base-url'].replace(/\/+$/, '');
const TIMEOUT_MS = Number(flags['timeout-ms']);
const headers = flags['api-key'] ? { Authorization: `Bearer ${flags['api-key']}` } : undefined;

function chat(model) {
  return new ChatOllama({ baseUrl: BASE_URL, model, headers, numPredict: 16 });
}

// The checks return an `answer` with no ids or times in it, so that a test can compare what the
// client got from the gateway with what it got from the backend itself.
const checks = {
  async invoke() {
    const r = await chat(flags.model).invoke('Say hello.');
    expect(typeof r?.content === 'string' && r.content.length > 0, 'empty content', 'text', clip(r));
    return { answer: { content: r.content } };
  },

  async 'bind-tools'() {
    const model = chat(flags['tool-model'] || flags.model).bindTools([WEATHER_TOOL]);
    const r = await model.invoke('What is the weather in Paris?');
    const calls = r?.tool_calls ?? [];
    expect(calls.length === 1 && calls[0].name === 'get_weather', 'not one get_weather tool call', 'get_weather', clip(r));
    expectWeatherArguments('bindTools', calls[0].args);
    return { answer: { name: calls[0].name, args: calls[0].args } };
  },
};

if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0) {
  process.stderr.write(`bad --timeout-ms: ${flags['timeout-ms']}\n`);
  process.exit(2);
}
await runChecks(checks, flags.check, TIMEOUT_MS);
