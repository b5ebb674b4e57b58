#!/usr/bin/env node
// Drives an Ollama-compatible server (the gateway's front door, or Ollama / ollama-sim itself)
// with the unmodified official `ollama` JS client and checks what the client gets back.
// One JSON line per check on stdout: {"check": name, "ok": bool, "detail": ...}; exit 0 only
// if every selected check passed. See README.md.
import { Ollama } from 'ollama';
import {
  CheckFailure,
  captureConsole,
  clip,
  describeError,
  DRIVER_FLAGS,
  expect,
  expectWeatherArguments,
  WEATHER_TOOL,
  isNumberArray,
  parseFlags,
  runChecks,
  sameModel,
} from './lib.mjs';

const USAGE = `usage: node ollama_client.mjs --base-url URL --model NAME [--api-key KEY] [--check NAMES]
                               [--embed-model NAME] [--tool-model NAME] [--timeout-ms MS]

  --base-url URL      server root, e.g. http://127.0.0.1:11434 (no /api suffix)
  --model NAME        an installed generative model
  --api-key KEY       sent as "Authorization: Bearer KEY" (omitted when not given)
  --check NAMES       comma-separated checks, or "all" (default)
  --embed-model NAME  model for the embed check (default: --model)
  --tool-model NAME   a model that calls tools and thinks (default: --model)
  --timeout-ms MS     per-check timeout (default 20000)

checks: generate generate-stream chat chat-stream list ps version show embed
        error-unknown-model abort chat-think-tools chat-think-stream generate-images
        embeddings-legacy
`;

const flags = parseFlags(process.argv.slice(2), DRIVER_FLAGS, USAGE);
const BASE_URL = flags['base-url'].replace(/\/+$/, '');
const MODEL = flags.model;
const EMBED_MODEL = flags['embed-model'] || MODEL;
const TOOL_MODEL = flags['tool-model'] || MODEL;
const TIMEOUT_MS = Number(flags['timeout-ms']);
const UNKNOWN_MODEL = 'no-such-model-4f7c:latest';

const consoleCapture = captureConsole();

function makeClient() {
  const config = { host: BASE_URL };
  if (flags['api-key']) config.headers = { Authorization: `Bearer ${flags['api-key']}` };
  return new Ollama(config);
}
const ollama = makeClient();

// The client logs and skips NDJSON lines it cannot parse ("invalid json: ..."), and logs when an
// error body is not application/json ("Getting text from response"). Either is a failure here.
function assertClientQuiet(what) {
  const msgs = consoleCapture.take();
  const bad = msgs.filter((m) => /invalid json|Failed to parse|Getting text from response|Failed to get text/i.test(m));
  expect(bad.length === 0, `the ollama client complained while reading ${what}`, 'no client warnings', bad);
}

async function collect(stream, what) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  assertClientQuiet(what);
  return parts;
}

const checks = {
  async generate() {
    consoleCapture.take();
    const r = await ollama.generate({
      model: MODEL,
      prompt: 'Why is the sky blue? Answer in one sentence.',
      stream: false,
      options: { num_predict: 16 },
    });
    expect(typeof r === 'object' && r !== null, 'reply is not an object', 'object', clip(r));
    expect(typeof r.response === 'string' && r.response.length > 0, 'empty response text', 'non-empty response', clip(r));
    expect(r.done === true, 'done is not true', 'done: true', r.done);
    expect(Number.isInteger(r.eval_count) && r.eval_count > 0, 'eval_count missing or 0', 'eval_count > 0', r.eval_count);
    assertClientQuiet('/api/generate');
    return { response: clip(r.response, 120), done_reason: r.done_reason, eval_count: r.eval_count };
  },

  async 'generate-stream'() {
    consoleCapture.take();
    const stream = await ollama.generate({
      model: MODEL,
      prompt: 'Count from one to ten in words.',
      stream: true,
      options: { num_predict: 16 },
    });
    const parts = await collect(stream, 'the /api/generate NDJSON stream');
    const withText = parts.filter((p) => typeof p.response === 'string' && p.response.length > 0);
    expect(withText.length >= 2, 'fewer than 2 streamed parts carry text', '>= 2 parts with response text', {
      parts: parts.length,
      with_text: withText.length,
      first: clip(parts[0]),
    });
    const last = parts[parts.length - 1];
    expect(last.done === true, 'the last part is not done: true', 'done: true on the last part', clip(last));
    expect(parts.slice(0, -1).every((p) => p.done === false), 'a part before the last has done != false', 'done: false before the last part', parts.slice(0, -1).map((p) => p.done));
    expect(Number.isInteger(last.eval_count) && last.eval_count > 0, 'final part lacks eval_count', 'eval_count > 0', clip(last));
    return {
      parts: parts.length,
      text: clip(withText.map((p) => p.response).join(''), 120),
      done_reason: last.done_reason,
      eval_count: last.eval_count,
    };
  },

  async chat() {
    consoleCapture.take();
    const r = await ollama.chat({
      model: MODEL,
      messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
      stream: false,
      options: { num_predict: 16 },
    });
    expect(r && typeof r.message === 'object' && r.message !== null, 'no message object', 'message: {role, content}', clip(r));
    expect(r.message.role === 'assistant', 'message.role is not assistant', 'assistant', r.message.role);
    expect(typeof r.message.content === 'string' && r.message.content.length > 0, 'empty message.content', 'non-empty content', clip(r));
    expect(r.done === true, 'done is not true', 'done: true', r.done);
    assertClientQuiet('/api/chat');
    return { content: clip(r.message.content, 120), done_reason: r.done_reason, eval_count: r.eval_count };
  },

  async 'chat-stream'() {
    consoleCapture.take();
    const stream = await ollama.chat({
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Name three colours.' },
      ],
      stream: true,
      options: { num_predict: 16 },
    });
    const parts = await collect(stream, 'the /api/chat NDJSON stream');
    const withText = parts.filter((p) => typeof p.message?.content === 'string' && p.message.content.length > 0);
    expect(withText.length >= 2, 'fewer than 2 streamed parts carry message.content', '>= 2 parts with text', {
      parts: parts.length,
      with_text: withText.length,
      first: clip(parts[0]),
    });
    const badRole = parts.filter((p) => p.message && p.message.role !== 'assistant');
    expect(badRole.length === 0, 'a streamed part has message.role != assistant', 'assistant', clip(badRole[0]));
    const last = parts[parts.length - 1];
    expect(last.done === true, 'the last part is not done: true', 'done: true on the last part', clip(last));
    return { parts: parts.length, text: clip(withText.map((p) => p.message.content).join(''), 120), done_reason: last.done_reason };
  },

  async list() {
    const r = await ollama.list();
    expect(Array.isArray(r?.models), 'list() has no models array', '{models: [...]}', clip(r));
    const names = r.models.map((m) => m.name ?? m.model);
    const found = r.models.some((m) => sameModel(m.name, MODEL) || sameModel(m.model, MODEL));
    expect(found, `model ${MODEL} is not listed`, `${MODEL} (or ${MODEL}:latest) among the models`, names);
    return { models: names };
  },

  async ps() {
    const r = await ollama.ps();
    expect(Array.isArray(r?.models), 'ps() has no models array', '{models: [...]}', clip(r));
    return { loaded: r.models.map((m) => m.name ?? m.model) };
  },

  async version() {
    let r, via;
    if (typeof ollama.version === 'function') {
      r = await ollama.version();
      via = 'ollama.version()';
    } else {
      const headers = flags['api-key'] ? { Authorization: `Bearer ${flags['api-key']}` } : {};
      const res = await fetch(`${BASE_URL}/api/version`, { headers });
      expect(res.ok, 'GET /api/version failed', 'HTTP 200', res.status);
      r = await res.json();
      via = 'fetch /api/version';
    }
    expect(typeof r?.version === 'string' && r.version.length > 0, 'no version string', '{version: "x.y.z"}', clip(r));
    return { version: r.version, via };
  },

  async show() {
    const r = await ollama.show({ model: MODEL });
    expect(r && typeof r === 'object', 'show() reply is not an object', 'object', clip(r));
    const has = ['details', 'model_info', 'modelfile', 'parameters', 'template'].filter((k) => r[k] !== undefined);
    expect(r.details !== undefined || r.model_info !== undefined || r.modelfile !== undefined || r.parameters !== undefined,
      'show() reply has none of details, model_info, modelfile, parameters', 'details/model_info/modelfile/parameters', Object.keys(r));
    return { fields: has, family: r.details?.family, parameter_size: r.details?.parameter_size };
  },

  async embed() {
    const r = await ollama.embed({ model: EMBED_MODEL, input: ['a', 'b'] });
    expect(Array.isArray(r?.embeddings), 'no embeddings array', '{embeddings: [[...], [...]]}', clip(r));
    expect(r.embeddings.length === 2, 'wrong number of embeddings', 2, r.embeddings.length);
    expect(r.embeddings.every(isNumberArray), 'an embedding is not a non-empty array of numbers', 'arrays of numbers', clip(r.embeddings));
    expect(r.embeddings[0].length === r.embeddings[1].length, 'embeddings differ in length', 'equal dimensions',
      r.embeddings.map((e) => e.length));
    return { model: r.model, dimensions: r.embeddings[0].length };
  },

  async 'error-unknown-model'() {
    // What real Ollama does: 404, application/json, {"error":"model 'X' not found"} -> the
    // client's ResponseError with .error (the message) and .status_code. For a stream the
    // status arrives before any NDJSON, so `await generate({stream: true})` itself rejects.
    const attempts = {
      'generate stream:false': () => ollama.generate({ model: UNKNOWN_MODEL, prompt: 'hi', stream: false }),
      'generate stream:true': () => ollama.generate({ model: UNKNOWN_MODEL, prompt: 'hi', stream: true }),
      'chat stream:false': () => ollama.chat({ model: UNKNOWN_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false }),
    };
    const results = {};
    const bare = UNKNOWN_MODEL.replace(/:latest$/, '');
    for (const [what, call] of Object.entries(attempts)) {
      consoleCapture.take();
      let err = null;
      let got;
      try {
        got = await call();
      } catch (e) {
        err = e;
      }
      expect(err !== null, `${what}: the request for an unknown model succeeded`, 'a rejected promise (ResponseError 404)', clip(got));
      expect(err.name === 'ResponseError', `${what}: rejected with something other than the client's ResponseError`,
        'ResponseError', describeError(err));
      expect(err.status_code === 404, `${what}: wrong status_code`, 404, { status_code: err.status_code, error: err.error });
      expect(typeof err.error === 'string' && err.error.includes(bare), `${what}: the error message does not name the model`,
        `a message containing ${bare}`, err.error);
      expect(!err.error.trimStart().startsWith('{'), `${what}: the error body was not parsed as JSON (content-type not application/json?)`,
        'the "error" field of a JSON body', err.error);
      assertClientQuiet(`the ${what} error reply`);
      results[what] = { status_code: err.status_code, error: err.error };
    }
    return results;
  },

  async abort() {
    // A long streaming generation, aborted after the first part, must stop at once: the next
    // read rejects with an AbortError. Once with the stream's own abort(), once with the
    // client's abort() (all its streams). Run it against a model that generates slowly: a reply
    // that arrived whole before the abort proves nothing, and fails the check.
    const out = {};
    for (const how of ['stream.abort()', 'client.abort()']) {
      const client = makeClient();
      const stream = await client.generate({
        model: MODEL,
        prompt: 'Write a very long story about a fox, at least two thousand words.',
        stream: true,
        options: { num_predict: 2048 },
      });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      expect(!first.done && first.value && first.value.done === false, `${how}: no first streamed part before done`,
        'a first part with done: false', clip(first.value));
      const t0 = Date.now();
      if (how === 'stream.abort()') stream.abort();
      else client.abort();
      let outcome = 'ended';
      let after = 0;
      let sawDone = false;
      try {
        for (;;) {
          const n = await it.next();
          if (n.done) break;
          after++;
          if (n.value?.done) sawDone = true;
        }
      } catch (e) {
        outcome = e?.name === 'AbortError' ? 'AbortError' : `threw ${e?.name}: ${e?.message}`;
        expect(e?.name === 'AbortError', `${how}: reading after abort threw something other than AbortError`, 'AbortError',
          describeError(e));
      }
      out[how] = { outcome, parts_after_abort: after, saw_done: sawDone, ms: Date.now() - t0 };
      expect(outcome === 'AbortError', `${how}: the whole reply arrived before the abort (use a slow model)`,
        'AbortError', out[how]);
    }
    // The server must still answer normally after the aborted streams.
    const r = await ollama.generate({ model: MODEL, prompt: 'hi', stream: false, options: { num_predict: 2 } });
    expect(r?.done === true, 'a generate after the aborts did not complete', 'done: true', clip(r));
    consoleCapture.take();
    return out;
  },

  // The checks below return an `answer` with no times in it, so that a test can compare what the
  // client got from the gateway with what it got from the backend itself.
  async 'chat-think-tools'() {
    consoleCapture.take();
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const r = await ollama.chat({ model: TOOL_MODEL, messages, tools: [WEATHER_TOOL], think: true, stream: false });
    const calls = r?.message?.tool_calls;
    expect(Array.isArray(calls) && calls.length === 1, 'not one tool call', 'one tool call', clip(r?.message));
    expect(calls[0].function?.name === 'get_weather', 'the tool call is not get_weather', 'get_weather', clip(calls[0]));
    expectWeatherArguments('chat', calls[0].function.arguments);
    expect(typeof r.message.thinking === 'string' && r.message.thinking.length > 0, 'no thinking with think: true', 'thinking text', clip(r.message));
    // The tool's answer goes back as a `tool` message, and the model answers it in words.
    const next = await ollama.chat({
      model: TOOL_MODEL,
      tools: [WEATHER_TOOL],
      think: false,
      stream: false,
      messages: [...messages, r.message, { role: 'tool', tool_name: 'get_weather', content: 'sunny, 21 degrees' }],
    });
    expect(typeof next?.message?.content === 'string' && next.message.content.length > 0, 'no answer to the tool result', 'text', clip(next));
    expect(!next.message.thinking, 'thinking with think: false', 'no thinking', clip(next.message));
    assertClientQuiet('/api/chat with tools');
    return {
      answer: {
        call: calls[0].function,
        thinking: r.message.thinking,
        then: next.message.content,
        eval_count: [r.eval_count, next.eval_count],
      },
    };
  },

  async 'chat-think-stream'() {
    consoleCapture.take();
    const stream = await ollama.chat({
      model: TOOL_MODEL,
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      think: 'high',
      stream: true,
      options: { num_predict: 40 },
    });
    const parts = await collect(stream, 'the /api/chat NDJSON stream');
    const thinking = parts.map((p) => p.message?.thinking ?? '').join('');
    const content = parts.map((p) => p.message?.content ?? '').join('');
    const firstText = parts.findIndex((p) => p.message?.content);
    const lastThought = parts.findLastIndex((p) => p.message?.thinking);
    expect(thinking.length > 0 && content.length > 0, 'the stream lacks thinking or content', 'both', { thinking, content });
    expect(lastThought < firstText, 'thinking came after the answer began', 'thinking first', { lastThought, firstText });
    assertClientQuiet('/api/chat streamed');
    return { answer: { thinking, content, done_reason: parts[parts.length - 1].done_reason } };
  },

  async 'generate-images'() {
    // A 1x1 PNG, as the client sends images: base64 strings.
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const r = await ollama.generate({ model: MODEL, prompt: 'What is in this picture?', images: [png], stream: false, options: { num_predict: 8 } });
    expect(typeof r?.response === 'string' && r.response.length > 0, 'empty response', 'text', clip(r));
    return { answer: { response: r.response, done_reason: r.done_reason, eval_count: r.eval_count } };
  },

  async 'embeddings-legacy'() {
    // ollama.embeddings() is the legacy POST /api/embeddings: one prompt, one vector.
    const r = await ollama.embeddings({ model: EMBED_MODEL, prompt: 'hello' });
    expect(isNumberArray(r?.embedding), 'no embedding array', '{embedding: [...]}', clip(r));
    return { answer: { dimensions: r.embedding.length, head: r.embedding.slice(0, 4) } };
  },
};

if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0) {
  process.stderr.write(`bad --timeout-ms: ${flags['timeout-ms']}\n`);
  process.exit(2);
}
await runChecks(checks, flags.check, TIMEOUT_MS);
