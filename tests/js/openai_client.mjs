#!/usr/bin/env node
// Drives an OpenAI-compatible server (the gateway's /v1 front door) with the unmodified official
// `openai` JS client and checks what the client gets back. One JSON line per check on stdout:
// {"check": name, "ok": bool, "detail": ...}; exit 0 only if every selected check passed.
// See README.md.
import OpenAI from 'openai';
import {
  clip,
  describeError,
  DRIVER_FLAGS,
  expect,
  expectWeatherArguments,
  WEATHER_PARAMETERS,
  WEATHER_TOOL,
  isNumberArray,
  parseFlags,
  runChecks,
  sameModel,
} from './lib.mjs';

const USAGE = `usage: node openai_client.mjs --base-url URL --model NAME [--api-key KEY] [--check NAMES]
                               [--embed-model NAME] [--tool-model NAME] [--code-model NAME]
                               [--timeout-ms MS]

  --base-url URL      server root, e.g. http://127.0.0.1:8080 (the client uses URL/v1)
  --model NAME        an installed generative model
  --api-key KEY       the API key (sent as "Authorization: Bearer KEY"); without it the
                      client sends "Bearer unused" and the error-auth check is skipped
  --check NAMES       comma-separated checks, or "all" (default)
  --embed-model NAME  model for the embeddings check (default: --model)
  --tool-model NAME   a model that calls tools and thinks, for the tool and reasoning checks
                      (default: --model)
  --code-model NAME   a model that fills in the middle (Ollama's "insert" capability), for
                      completions-suffix (default: --model)
  --timeout-ms MS     per-check timeout, also the client's request timeout (default 20000)

checks: chat chat-stream completions completions-stream models embeddings
        error-unknown-model error-auth max-tokens chat-tools chat-tools-stream tool-result
        responses responses-tool completions-suffix models-retrieve
`;

const flags = parseFlags(process.argv.slice(2), DRIVER_FLAGS, USAGE);
const BASE_URL = flags['base-url'].replace(/\/+$/, '');
const MODEL = flags.model;
const EMBED_MODEL = flags['embed-model'] || MODEL;
const TOOL_MODEL = flags['tool-model'] || MODEL;
const CODE_MODEL = flags['code-model'] || MODEL;
const API_KEY = flags['api-key'] || '';
const TIMEOUT_MS = Number(flags['timeout-ms']);
const UNKNOWN_MODEL = 'no-such-model-4f7c:latest';
if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0) {
  process.stderr.write(`bad --timeout-ms: ${flags['timeout-ms']}\n`);
  process.exit(2);
}

function makeClient(extra = {}) {
  return new OpenAI({
    baseURL: BASE_URL + '/v1',
    apiKey: API_KEY || 'unused',
    maxRetries: 0,
    timeout: TIMEOUT_MS,
    ...extra,
  });
}
const openai = makeClient();

const finishReasons = ['stop', 'length'];

// Checks a chat.completion.chunk / text_completion stream; returns what it saw.
async function readStream(stream, { object, textOf }) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks.length > 0, 'the stream yielded no chunks', 'at least one chunk', 0);
  const badObject = chunks.filter((c) => c.object !== object);
  expect(badObject.length === 0, `a chunk's object is not ${object}`, object, clip(badObject[0]));
  const withChoices = chunks.filter((c) => Array.isArray(c.choices) && c.choices.length > 0);
  const text = withChoices.map((c) => textOf(c.choices[0]) ?? '').join('');
  expect(text.length > 0, 'the concatenated streamed text is empty', 'non-empty text', { chunks: chunks.length, first: clip(chunks[0]) });
  const lastWithChoice = withChoices[withChoices.length - 1];
  const finish = lastWithChoice?.choices[0]?.finish_reason;
  expect(finishReasons.includes(finish), 'the last chunk with a choice has no finish_reason stop/length',
    `finish_reason in ${JSON.stringify(finishReasons)}`, clip(lastWithChoice));
  const early = withChoices.slice(0, -1).filter((c) => c.choices[0].finish_reason != null);
  expect(early.length === 0, 'a chunk before the last one has a finish_reason', 'finish_reason only on the last chunk', clip(early[0]));
  const ids = new Set(chunks.map((c) => c.id));
  expect(ids.size === 1 && typeof chunks[0].id === 'string' && chunks[0].id.length > 0, 'chunks do not share one non-empty id',
    'one id for all chunks', [...ids]);
  return { chunks, text, finish, last: chunks[chunks.length - 1] };
}

// Runs `call`, which must reject with an OpenAI.APIError of class `cls` and status `status`.
async function expectAPIError(what, call, cls, status) {
  let err = null;
  let got;
  try {
    got = await call();
    // A stream that only fails while being read (an error event after a 200).
    if (got && typeof got[Symbol.asyncIterator] === 'function') for await (const _ of got);
  } catch (e) {
    err = e;
  }
  expect(err !== null, `${what}: the request succeeded`, `OpenAI.${cls.name} (${status})`, clip(got));
  expect(err instanceof OpenAI.APIError, `${what}: rejected with something other than OpenAI.APIError`, 'OpenAI.APIError',
    describeError(err));
  expect(err.status === status, `${what}: wrong HTTP status`, status, describeError(err));
  expect(err instanceof cls, `${what}: wrong error class`, `OpenAI.${cls.name}`, describeError(err));
  return err;
}

// OpenAI's error body: {"error": {"message", "type", "param", "code"}}; the client keeps the
// inner object as err.error and puts "<status> <message>" in err.message.
function expectOpenAIErrorBody(what, err) {
  expect(err.error && typeof err.error === 'object' && !Array.isArray(err.error),
    `${what}: the error body is not {"error": {...}} (OpenAI shape)`, '{"error": {"message", "type", "param", "code"}}',
    { error: err.error, message: err.message });
  expect(typeof err.error.message === 'string' && err.error.message.length > 0, `${what}: error.message missing`,
    'a non-empty error.message', err.error);
  expect('type' in err.error, `${what}: error.type missing`, 'error.type present', err.error);
}

const checks = {
  async chat() {
    const r = await openai.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hello in one short sentence.' },
      ],
      max_tokens: 16,
    });
    expect(r?.object === 'chat.completion', 'wrong object', 'chat.completion', clip(r));
    expect(typeof r.id === 'string' && r.id.length > 0, 'no id', 'a non-empty id', r.id);
    expect(Array.isArray(r.choices) && r.choices.length >= 1, 'no choices', 'choices[0]', clip(r));
    const c = r.choices[0];
    expect(c.message?.role === 'assistant', 'choices[0].message.role is not assistant', 'assistant', clip(c));
    expect(typeof c.message.content === 'string' && c.message.content.length > 0, 'empty message content', 'non-empty content', clip(c));
    expect(finishReasons.includes(c.finish_reason), 'bad finish_reason', finishReasons, c.finish_reason);
    expect(Number.isInteger(r.usage?.completion_tokens) && r.usage.completion_tokens > 0, 'usage.completion_tokens missing or 0',
      'usage.completion_tokens > 0', r.usage);
    return { id: r.id, model: r.model, content: clip(c.message.content, 120), finish_reason: c.finish_reason, usage: r.usage };
  },

  async 'chat-stream'() {
    const messages = [{ role: 'user', content: 'Name three colours.' }];
    // Plain stream.
    const plain = await readStream(
      await openai.chat.completions.create({ model: MODEL, messages, max_tokens: 16, stream: true }),
      { object: 'chat.completion.chunk', textOf: (ch) => ch.delta?.content },
    );
    const roles = plain.chunks.flatMap((c) => (c.choices ?? []).map((ch) => ch.delta?.role)).filter((x) => x != null);
    expect(roles.every((x) => x === 'assistant'), 'a delta.role is not assistant', 'assistant', roles);
    // With stream_options.include_usage: one more chunk at the end, with usage (and, as OpenAI
    // does it, no choices).
    const withUsage = await readStream(
      await openai.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 16,
        stream: true,
        stream_options: { include_usage: true },
      }),
      { object: 'chat.completion.chunk', textOf: (ch) => ch.delta?.content },
    );
    const u = withUsage.last.usage;
    expect(u && Number.isInteger(u.completion_tokens) && u.completion_tokens > 0,
      'with include_usage the final chunk carries no usage', 'usage.completion_tokens > 0 on the last chunk', clip(withUsage.last));
    return {
      chunks: plain.chunks.length,
      text: clip(plain.text, 120),
      finish_reason: plain.finish,
      include_usage: { chunks: withUsage.chunks.length, usage: u, last_choices: withUsage.last.choices?.length ?? null },
    };
  },

  async completions() {
    const r = await openai.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16 });
    expect(r?.object === 'text_completion', 'wrong object', 'text_completion', clip(r));
    expect(Array.isArray(r.choices) && r.choices.length >= 1, 'no choices', 'choices[0]', clip(r));
    const c = r.choices[0];
    expect(typeof c.text === 'string' && c.text.length > 0, 'empty choices[0].text', 'non-empty text', clip(c));
    expect(finishReasons.includes(c.finish_reason), 'bad finish_reason', finishReasons, c.finish_reason);
    return { id: r.id, text: clip(c.text, 120), finish_reason: c.finish_reason, usage: r.usage ?? null };
  },

  async 'completions-stream'() {
    const s = await readStream(
      await openai.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16, stream: true }),
      { object: 'text_completion', textOf: (ch) => ch.text },
    );
    return { chunks: s.chunks.length, text: clip(s.text, 120), finish_reason: s.finish };
  },

  async models() {
    const page = await openai.models.list();
    const models = page.data;
    expect(Array.isArray(models), 'models.list() has no data array', '{object: "list", data: [...]}', clip(page));
    const ids = models.map((m) => m.id);
    expect(models.some((m) => sameModel(m.id, MODEL)), `model ${MODEL} is not listed`, `${MODEL} among the ids`, ids);
    const bad = models.filter((m) => m.object !== 'model' || typeof m.id !== 'string');
    expect(bad.length === 0, 'an entry is not {id, object: "model"}', '{id, object: "model", created, owned_by}', clip(bad[0]));
    return { ids };
  },

  async embeddings() {
    // Without encoding_format the client asks for base64 (little-endian float32) and decodes it
    // itself; a server that ignores encoding_format and sends float arrays gives garbage here,
    // so compare with an explicit encoding_format: "float" request.
    const input = ['a', 'b'];
    const b64 = await openai.embeddings.create({ model: EMBED_MODEL, input });
    const flt = await openai.embeddings.create({ model: EMBED_MODEL, input, encoding_format: 'float' });
    for (const [what, r] of [['default (base64)', b64], ['float', flt]]) {
      expect(r?.object === 'list' && Array.isArray(r.data), `${what}: not {object: "list", data: [...]}`, 'list', clip(r));
      expect(r.data.length === 2, `${what}: wrong number of embeddings`, 2, r.data.length);
      expect(r.data.every((d) => isNumberArray(d.embedding)), `${what}: an embedding is not an array of numbers`,
        'arrays of numbers', clip(r.data));
      expect(r.data.every((d, i) => d.object === 'embedding' && d.index === i), `${what}: data[i] is not {object: "embedding", index: i}`,
        'object "embedding", index 0 and 1', r.data.map((d) => ({ object: d.object, index: d.index })));
    }
    for (let i = 0; i < 2; i++) {
      const a = b64.data[i].embedding;
      const b = flt.data[i].embedding;
      const close = a.length === b.length && a.every((x, j) => Math.abs(x - b[j]) <= 1e-5 * Math.max(1, Math.abs(b[j])));
      expect(close, `embedding ${i}: the base64 reply decodes to something else than the float reply (encoding_format ignored?)`,
        { length: b.length, head: b.slice(0, 4) }, { length: a.length, head: a.slice(0, 4) });
    }
    return { model: flt.model, dimensions: flt.data[0].embedding.length, usage: flt.usage ?? null };
  },

  async 'error-unknown-model'() {
    const bare = UNKNOWN_MODEL.replace(/:latest$/, '');
    const messages = [{ role: 'user', content: 'hi' }];
    const out = {};
    const attempts = {
      'chat.completions stream:false': () => openai.chat.completions.create({ model: UNKNOWN_MODEL, messages }),
      'chat.completions stream:true': () => openai.chat.completions.create({ model: UNKNOWN_MODEL, messages, stream: true }),
      completions: () => openai.completions.create({ model: UNKNOWN_MODEL, prompt: 'hi' }),
    };
    for (const [what, call] of Object.entries(attempts)) {
      const err = await expectAPIError(what, call, OpenAI.NotFoundError, 404);
      expectOpenAIErrorBody(what, err);
      expect(err.error.message.includes(bare), `${what}: the error message does not name the model`, `a message containing ${bare}`,
        err.error.message);
      out[what] = { status: err.status, error: err.error };
    }
    return out;
  },

  async 'error-auth'() {
    expect(API_KEY, 'error-auth needs --api-key', '--api-key KEY', 'no key');
    const out = {};
    const wrong = makeClient({ apiKey: 'wrong-' + API_KEY });
    const none = makeClient({ defaultHeaders: { Authorization: null } }); // no Authorization header at all
    const attempts = {
      'wrong key: chat.completions': () => wrong.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      'wrong key: models.list': () => wrong.models.list(),
      'no Authorization: models.list': () => none.models.list(),
    };
    for (const [what, call] of Object.entries(attempts)) {
      const err = await expectAPIError(what, call, OpenAI.AuthenticationError, 401);
      out[what] = { status: err.status, error: err.error ?? null };
    }
    return out;
  },

  async 'max-tokens'() {
    const r = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Write a long poem about the sea.' }],
      max_tokens: 3,
    });
    const c = r?.choices?.[0];
    expect(c?.finish_reason === 'length', 'finish_reason is not length', 'length', clip(c));
    expect(Number.isInteger(r.usage?.completion_tokens) && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 3,
      'usage.completion_tokens not in 1..3', '1 <= completion_tokens <= 3', r.usage);
    return { content: clip(c.message?.content, 120), finish_reason: c.finish_reason, usage: r.usage };
  },

  // The checks below return an `answer` with no ids or times in it, so that a test can compare
  // what the client got from the gateway with what it got from the backend itself.
  async 'chat-tools'() {
    const r = await openai.chat.completions.create({
      model: TOOL_MODEL,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [WEATHER_TOOL],
    });
    const c = r?.choices?.[0];
    expect(c?.finish_reason === 'tool_calls', 'finish_reason is not tool_calls', 'tool_calls', clip(c));
    const calls = c.message?.tool_calls;
    expect(Array.isArray(calls) && calls.length === 1, 'not one tool call', 'one tool call', clip(c.message));
    const call = calls[0];
    expect(call.type === 'function' && call.function?.name === 'get_weather', 'the tool call is not get_weather', 'get_weather', clip(call));
    expect(typeof call.id === 'string' && call.id.length > 0, 'the tool call has no id', 'an id', clip(call));
    const args = JSON.parse(call.function.arguments);
    expectWeatherArguments('chat', args);
    return { answer: { finish_reason: c.finish_reason, name: call.function.name, arguments: args, reasoning: c.message.reasoning ?? null, usage: r.usage } };
  },

  async 'chat-tools-stream'() {
    const stream = await openai.chat.completions.create({
      model: TOOL_MODEL,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [WEATHER_TOOL],
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls = [];
    let finish = null;
    let reasoning = '';
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices ?? []) {
        if (choice.finish_reason) finish = choice.finish_reason;
        if (choice.delta?.reasoning) reasoning += choice.delta.reasoning;
        for (const d of choice.delta?.tool_calls ?? []) {
          const at = d.index ?? 0;
          calls[at] ??= { name: '', arguments: '' };
          if (d.function?.name) calls[at].name += d.function.name;
          if (d.function?.arguments) calls[at].arguments += d.function.arguments;
        }
      }
    }
    expect(finish === 'tool_calls', 'the stream did not finish with tool_calls', 'tool_calls', finish);
    expect(calls.length === 1 && calls[0].name === 'get_weather', 'not one get_weather call', 'get_weather', calls);
    const args = JSON.parse(calls[0].arguments);
    expectWeatherArguments('chat stream', args);
    expect(usage && usage.completion_tokens > 0, 'no usage chunk', 'usage', usage);
    return { answer: { finish_reason: finish, name: calls[0].name, arguments: args, reasoning, usage } };
  },

  async 'tool-result'() {
    const r = await openai.chat.completions.create({
      model: TOOL_MODEL,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 degrees' },
      ],
    });
    const c = r?.choices?.[0];
    expect(c?.finish_reason === 'stop', 'finish_reason is not stop', 'stop', clip(c));
    expect(typeof c.message?.content === 'string' && c.message.content.length > 0, 'no answer to the tool result', 'text', clip(c));
    expect(!c.message.tool_calls?.length, 'the model called a tool again', 'no tool calls', clip(c.message));
    return { answer: { finish_reason: c.finish_reason, content: c.message.content, usage: r.usage } };
  },

  async responses() {
    const r = await openai.responses.create({ model: MODEL, instructions: 'Be terse.', input: 'Say hello.', max_output_tokens: 16 });
    expect(r?.object === 'response', 'wrong object', 'response', clip(r));
    expect(typeof r.output_text === 'string' && r.output_text.length > 0, 'empty output_text', 'text', clip(r));
    return { answer: { status: r.status, text: r.output_text, usage: r.usage } };
  },

  async 'responses-tool'() {
    const r = await openai.responses.create({
      model: TOOL_MODEL,
      input: 'What is the weather in Paris?',
      tools: [{ type: 'function', name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_PARAMETERS }],
    });
    const call = (r?.output ?? []).find((o) => o.type === 'function_call');
    expect(call && call.name === 'get_weather', 'no get_weather function_call in output', 'a function_call', clip(r?.output));
    const args = JSON.parse(call.arguments);
    expectWeatherArguments('responses', args);
    // The tool's result goes back as a function_call_output, and the model answers it.
    const next = await openai.responses.create({
      model: TOOL_MODEL,
      tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER_PARAMETERS }],
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21 degrees' },
      ],
    });
    expect(typeof next.output_text === 'string' && next.output_text.length > 0, 'no answer to the function output', 'text', clip(next));
    return { answer: { name: call.name, arguments: args, status: r.status, then: next.output_text } };
  },

  async 'completions-suffix'() {
    const r = await openai.completions.create({ model: CODE_MODEL, prompt: 'def add(a, b):\n', suffix: '\n    return c\n', max_tokens: 8 });
    const c = r?.choices?.[0];
    expect(typeof c?.text === 'string' && c.text.length > 0, 'empty text', 'the middle', clip(r));
    return { answer: { text: c.text, finish_reason: c.finish_reason, usage: r.usage } };
  },

  async 'models-retrieve'() {
    const m = await openai.models.retrieve(MODEL);
    expect(m?.id === MODEL && m.object === 'model', 'not the model asked for', { id: MODEL, object: 'model' }, clip(m));
    const err = await expectAPIError('unknown model', () => openai.models.retrieve(UNKNOWN_MODEL), OpenAI.NotFoundError, 404);
    expectOpenAIErrorBody('unknown model', err);
    return { answer: { id: m.id, object: m.object, owned_by: m.owned_by, unknown: err.status } };
  },
};

const skipped = API_KEY ? {} : { 'error-auth': 'skipped: no --api-key' };
await runChecks(checks, flags.check, TIMEOUT_MS, skipped);
