#!/usr/bin/env node
// Drives an Anthropic-compatible server (the gateway's /v1/messages, or Ollama / ollama-sim itself)
// with the unmodified official `@anthropic-ai/sdk` JS client, as Claude Code talks to Ollama, and
// checks what the client gets back. One JSON line per check on stdout: {"check": name, "ok": bool,
// "detail": ...}; exit 0 only if every selected check passed. See README.md.
import Anthropic from '@anthropic-ai/sdk';
import {
  clip,
  describeError,
  DRIVER_FLAGS,
  expect,
  expectWeatherArguments,
  parseFlags,
  runChecks,
  WEATHER_PARAMETERS,
} from './lib.mjs';

const USAGE = `usage: node anthropic_client.mjs --base-url URL --model NAME [--api-key KEY] [--check NAMES]
                                  [--tool-model NAME] [--timeout-ms MS]

  --base-url URL      server root, e.g. http://127.0.0.1:8080 (the client posts to URL/v1/messages)
  --model NAME        an installed generative model
  --api-key KEY       the API key (sent as "Authorization: Bearer KEY"; default "ollama")
  --check NAMES       comma-separated checks, or "all" (default)
  --tool-model NAME   a model that calls tools (default: --model)
  --timeout-ms MS     per-check timeout, also the client's request timeout (default 20000)

checks: messages messages-tool messages-stream-tool error-unknown-model
`;

const flags = parseFlags(process.argv.slice(2), DRIVER_FLAGS, USAGE);
const BASE_URL = flags['base-url'].replace(/\/+$/, '');
const MODEL = flags.model;
const TOOL_MODEL = flags['tool-model'] || MODEL;
const TIMEOUT_MS = Number(flags['timeout-ms']);
const UNKNOWN_MODEL = 'no-such-model-4f7c:latest';

// As Claude Code talks to Ollama: the key as a bearer token (ANTHROPIC_AUTH_TOKEN), which is what
// the gateway's auth reads.
const anthropic = new Anthropic({
  baseURL: BASE_URL,
  authToken: flags['api-key'] || 'ollama',
  maxRetries: 0,
  timeout: TIMEOUT_MS,
});

const TOOLS = [{ name: 'get_weather', description: 'The weather in a city', input_schema: WEATHER_PARAMETERS }];
const QUESTION = [{ role: 'user', content: 'What is the weather in Paris?' }];

// The checks return an `answer` with no ids or times in it, so that a test can compare what the
// client got from the gateway with what it got from the backend itself.
const checks = {
  async messages() {
    const r = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 16,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Say hello.' }],
    });
    expect(r?.type === 'message' && r.role === 'assistant', 'not an assistant message', 'message', clip(r));
    const text = (r.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
    expect(text.length > 0, 'no text block', 'text', clip(r.content));
    expect(['end_turn', 'max_tokens'].includes(r.stop_reason), 'bad stop_reason', 'end_turn or max_tokens', r.stop_reason);
    expect(r.usage?.output_tokens > 0, 'usage.output_tokens missing', 'output_tokens > 0', r.usage);
    return { answer: { text, stop_reason: r.stop_reason, usage: r.usage } };
  },

  async 'messages-tool'() {
    const r = await anthropic.messages.create({ model: TOOL_MODEL, max_tokens: 256, tools: TOOLS, messages: QUESTION });
    expect(r?.stop_reason === 'tool_use', 'stop_reason is not tool_use', 'tool_use', clip(r));
    const use = (r.content ?? []).find((b) => b.type === 'tool_use');
    expect(use && use.name === 'get_weather', 'no get_weather tool_use block', 'tool_use', clip(r.content));
    expectWeatherArguments('messages', use.input);
    // The result goes back as a tool_result block, and the model answers it in words.
    const next = await anthropic.messages.create({
      model: TOOL_MODEL,
      max_tokens: 256,
      tools: TOOLS,
      messages: [
        ...QUESTION,
        { role: 'assistant', content: r.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 21 degrees' }] },
      ],
    });
    const text = (next.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
    expect(text.length > 0, 'no answer to the tool result', 'text', clip(next));
    return { answer: { name: use.name, input: use.input, then: text, stop_reason: next.stop_reason } };
  },

  async 'messages-stream-tool'() {
    const stream = anthropic.messages.stream({ model: TOOL_MODEL, max_tokens: 256, tools: TOOLS, messages: QUESTION });
    const events = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const message = await stream.finalMessage();
    expect(message.stop_reason === 'tool_use', 'stop_reason is not tool_use', 'tool_use', clip(message));
    const use = message.content.find((b) => b.type === 'tool_use');
    expect(use && use.name === 'get_weather', 'no get_weather tool_use block', 'tool_use', clip(message.content));
    expectWeatherArguments('messages stream', use.input);
    for (const type of ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']) {
      expect(events.includes(type), `no ${type} event`, type, events);
    }
    expect(events[events.length - 1] === 'message_stop', 'the stream does not end with message_stop', 'message_stop', events);
    return { answer: { name: use.name, input: use.input, events: [...new Set(events)], usage: message.usage } };
  },

  async 'error-unknown-model'() {
    let err = null;
    try {
      await anthropic.messages.create({ model: UNKNOWN_MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    } catch (e) {
      err = e;
    }
    expect(err instanceof Anthropic.NotFoundError, 'not a NotFoundError', 'Anthropic.NotFoundError (404)', describeError(err));
    expect(err.error?.type === 'error' && err.error.error?.type === 'not_found_error', 'the body is not Anthropic\'s error shape',
      '{"type": "error", "error": {"type": "not_found_error", ...}}', err.error);
    return { answer: { status: err.status, type: err.error.error.type } };
  },
};

if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0) {
  process.stderr.write(`bad --timeout-ms: ${flags['timeout-ms']}\n`);
  process.exit(2);
}
await runChecks(checks, flags.check, TIMEOUT_MS);
