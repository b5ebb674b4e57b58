#!/usr/bin/env node
// Manages models on an Ollama-compatible server (the gateway's front door in front of a fleet)
// with the unmodified official `ollama` JS client: pull, list, ps, delete, as `ollama pull`,
// `ollama ls`, `ollama ps` and `ollama rm` do. One JSON line per check on stdout (lib.mjs);
// `--model` is the model to pull and delete. See README.md.
import { Ollama } from 'ollama';
import { captureConsole, clip, DRIVER_FLAGS, expect, parseFlags, runChecks, sameModel } from './lib.mjs';

const USAGE = `usage: node ollama_fleet.mjs --base-url URL --model NAME [--api-key KEY] [--check NAMES]
                              [--timeout-ms MS]

  --model NAME   the model to pull, list, load and delete
checks (in this order for "all"): pull list ps delete
`;

const flags = parseFlags(process.argv.slice(2), DRIVER_FLAGS, USAGE);
const MODEL = flags.model;
const config = { host: flags['base-url'].replace(/\/+$/, '') };
if (flags['api-key']) config.headers = { Authorization: `Bearer ${flags['api-key']}` };
const ollama = new Ollama(config);
const consoleCapture = captureConsole();

const checks = {
  async pull() {
    const parts = [];
    for await (const part of await ollama.pull({ model: MODEL, stream: true })) parts.push(part);
    const warnings = consoleCapture.take();
    expect(warnings.length === 0, 'the client complained while reading the progress', 'none', warnings);
    const last = parts[parts.length - 1];
    expect(last?.status === 'success', 'the progress did not end in success', 'success', clip(last));
    const backends = [...new Set(parts.filter((p) => p.backend).map((p) => p.backend))].sort();
    // The layer lines as the CLI draws them: per digest, completed never past total.
    const layers = parts.filter((p) => p.digest && p.total);
    expect(layers.every((p) => p.completed <= p.total), 'a layer completed past its total', 'completed <= total', clip(layers));
    return { statuses: parts.length, backends, final: last };
  },

  async list() {
    const r = await ollama.list();
    const entry = r.models.find((m) => sameModel(m.name, MODEL));
    expect(entry !== undefined, 'the pulled model is not listed', MODEL, r.models.map((m) => m.name));
    return { name: entry.name, backends: entry.backends ?? null };
  },

  async ps() {
    // Loads the model (an empty prompt loads it, as `ollama run` does first), then lists.
    await ollama.generate({ model: MODEL, prompt: '' });
    const r = await ollama.ps();
    const entry = r.models.find((m) => sameModel(m.name, MODEL));
    expect(entry !== undefined, 'the loaded model is not in ps', MODEL, clip(r));
    return { models: r.models.length, backends: entry.backends ?? null, copies: (r.copies ?? []).map((c) => c.backend).sort() };
  },

  async delete() {
    const r = await ollama.delete({ model: MODEL });
    const after = await ollama.list();
    const still = after.models.some((m) => sameModel(m.name, MODEL));
    expect(!still, 'the deleted model is still listed', 'absent', after.models.map((m) => m.name));
    return { status: r?.status ?? null };
  },
};

await runChecks(checks, flags.check, Number(flags['timeout-ms']));
