// Shared plumbing for the client drivers (ollama_client.mjs, openai_client.mjs): flag parsing,
// running checks one by one with a timeout each, and the one-JSON-line-per-check report.
// No dependencies beyond Node itself.

export class CheckFailure extends Error {
  // A check's own failure: `expected` and `got` end up in the report's detail.
  constructor(message, { expected, got } = {}) {
    super(message);
    this.name = 'CheckFailure';
    this.expected = expected;
    this.got = got;
  }
}

// Throws a CheckFailure unless `cond` holds.
export function expect(cond, message, expected, got) {
  if (!cond) throw new CheckFailure(message, { expected, got });
}

// Clips long values so a report line stays readable.
export function clip(value, max = 300) {
  let s;
  try {
    s = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  if (s === undefined) return undefined;
  return s.length > max ? s.slice(0, max) + `...(${s.length} chars)` : s;
}

// Describes any thrown value: its class, message and the client's error fields.
export function describeError(err) {
  if (!(err instanceof Error)) return { thrown: clip(err) };
  const d = { class: err.constructor?.name ?? err.name, message: clip(err.message, 500) };
  for (const k of ['status', 'status_code', 'error', 'code', 'type', 'param']) {
    const v = err[k];
    if (v !== undefined && v !== null) d[k] = typeof v === 'object' || typeof v === 'number' ? v : clip(v);
  }
  if (err.cause) d.cause = clip(String(err.cause?.message ?? err.cause), 300);
  return d;
}

// Does a model list entry name the model? Ollama names are case-insensitive and default to
// the tag `latest`, so `llama3.2` matches `llama3.2:latest` and the other way round.
export function sameModel(a, b) {
  const norm = (n) => {
    n = String(n ?? '').toLowerCase();
    const slash = n.lastIndexOf('/');
    return n.indexOf(':', slash + 1) === -1 ? n + ':latest' : n;
  };
  return a != null && b != null && norm(a) === norm(b);
}

export function isNumberArray(v) {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

const USAGE_EXIT = 2;

// The flags both drivers take (see README.md).
export const DRIVER_FLAGS = {
  'base-url': { required: true },
  model: { required: true },
  'api-key': {},
  check: { default: 'all' },
  'embed-model': {},
  'tool-model': {},
  'code-model': {},
  'timeout-ms': { default: '20000' },
};

// The tool the tool checks offer, in OpenAI's (and Ollama's) function shape.
export const WEATHER_PARAMETERS = {
  type: 'object',
  properties: { city: { type: 'string', description: 'the city' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
};
export const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_PARAMETERS },
};

// Checks that a tool call's arguments (an object) fit WEATHER_PARAMETERS.
export function expectWeatherArguments(what, args) {
  expect(args && typeof args === 'object' && !Array.isArray(args), `${what}: the arguments are not an object`, 'an object', args);
  expect(typeof args.city === 'string' && args.city.length > 0, `${what}: arguments.city is not a non-empty string`, 'a city', args);
  expect(['celsius', 'fahrenheit'].includes(args.unit), `${what}: arguments.unit is not one of the enum`, 'celsius or fahrenheit', args);
}

// Parses `--flag value` / `--flag=value` arguments. `spec` maps flag names to
// { required, default, help }. Exits 2 with a message on unknown flags or missing values.
export function parseFlags(argv, spec, usage) {
  const out = {};
  for (const [k, v] of Object.entries(spec)) if (v.default !== undefined) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in spec)) {
      process.stderr.write(`unknown argument: ${arg}\n\n${usage}`);
      process.exit(USAGE_EXIT);
    }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) {
        process.stderr.write(`missing value for --${m[1]}\n\n${usage}`);
        process.exit(USAGE_EXIT);
      }
      value = argv[++i];
    }
    out[m[1]] = value;
  }
  for (const [k, v] of Object.entries(spec)) {
    if (v.required && (out[k] === undefined || out[k] === '')) {
      process.stderr.write(`--${k} is required\n\n${usage}`);
      process.exit(USAGE_EXIT);
    }
  }
  return out;
}

// Runs the selected checks in order. `checks` is an ordered object name -> async (ctx) => detail.
// `selection` is 'all' or a comma-separated list of names. Each check gets `timeoutMs`; a check
// that neither resolves nor rejects in time fails with a timeout. Prints one JSON line per check
// on stdout and, for failures, a readable reason on stderr, then exits 0 if every selected check
// passed, 1 otherwise (2 for an unknown check name).
export async function runChecks(checks, selection, timeoutMs, skipped = {}) {
  const names = Object.keys(checks);
  let selected;
  if (!selection || selection === 'all') {
    selected = names;
  } else {
    selected = selection.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = selected.filter((s) => !names.includes(s));
    if (unknown.length) {
      process.stderr.write(`unknown check(s): ${unknown.join(', ')}; known: ${names.join(', ')}\n`);
      process.exit(USAGE_EXIT);
    }
  }

  let failed = 0;
  for (const name of selected) {
    if (skipped[name] && (!selection || selection === 'all')) {
      // Skipped only when running everything; asked for by name, the check runs and fails itself.
      reportLine({ check: name, ok: true, skipped: true, detail: skipped[name] });
      continue;
    }
    const started = Date.now();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new CheckFailure(`timed out after ${timeoutMs} ms (hung?)`, { expected: 'a result', got: 'nothing' })),
        timeoutMs,
      );
    });
    let line;
    try {
      const detail = await Promise.race([checks[name](), timeout]);
      line = { check: name, ok: true, detail: detail ?? null, ms: Date.now() - started };
    } catch (err) {
      failed++;
      const detail =
        err instanceof CheckFailure ?
          { reason: err.message, expected: err.expected, got: err.got }
        : { reason: `the client threw ${err?.constructor?.name ?? typeof err}: ${clip(err?.message ?? err, 200)}`, error: describeError(err) };
      line = { check: name, ok: false, detail, ms: Date.now() - started };
      process.stderr.write(
        `FAIL ${name}: ${detail.reason}` +
          (detail.expected !== undefined ? `\n  expected: ${clip(detail.expected, 500)}` : '') +
          (detail.got !== undefined ? `\n  got:      ${clip(detail.got, 500)}` : '') +
          (detail.error ? `\n  error:    ${clip(detail.error, 800)}` : '') +
          '\n',
      );
    } finally {
      clearTimeout(timer);
    }
    reportLine(line);
  }
  const summary = `${selected.length - failed}/${selected.length} checks passed`;
  process.stderr.write(failed ? `FAILED: ${summary}\n` : `ok: ${summary}\n`);
  // A hung request may still hold a socket open: exit explicitly rather than wait for it.
  process.exitCode = failed ? 1 : 0;
  await new Promise((r) => process.stdout.write('', r));
  process.exit(process.exitCode);
}

// Wraps console.warn/console.log so that the clients' own complaints (the ollama client logs and
// skips NDJSON lines it cannot parse) can be seen by a check. Returns { take(): string[] }.
export function captureConsole() {
  const seen = [];
  for (const method of ['warn', 'log', 'error']) {
    const orig = console[method].bind(console);
    console[method] = (...args) => {
      seen.push(args.map((a) => (typeof a === 'string' ? a : clip(a))).join(' '));
      // Keep stdout for report lines only: the clients' messages go to stderr.
      process.stderr.write(`[client console.${method}] ${seen[seen.length - 1]}\n`);
    };
    console[`__orig_${method}`] = orig;
  }
  return {
    take() {
      return seen.splice(0, seen.length);
    },
  };
}

// console.log as it was before captureConsole(), for the report lines.
export function reportLine(obj) {
  (console.__orig_log ?? console.log)(JSON.stringify(obj));
}
