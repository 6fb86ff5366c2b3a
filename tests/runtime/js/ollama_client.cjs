// Drives the official JavaScript client (npm `ollama`, installed by
// hack/ollama-js) against a server and prints what it got as one JSON object,
// for tests/runtime/test_ollama_js.py to check.
//
//   node ollama_client.cjs <dir holding node_modules> <host> <scenario> [json args]
//
// Scenarios only call the client and record its answers; every assertion is
// on the Python side.
"use strict";
const path = require("node:path");

const [modulesDir, host, scenario, rawArgs] = process.argv.slice(2);
const { Ollama } = require(path.join(modulesDir, "node_modules", "ollama"));
const client = new Ollama({ host });
const args = rawArgs ? JSON.parse(rawArgs) : {};

async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function caught(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return { name: e.name, status_code: e.status_code, error: e.error };
  }
}

const scenarios = {
  async basics() {
    const model = args.model;
    const messages = [{ role: "user", content: "hi" }];
    const options = { num_predict: 4 };
    return {
      version: await client.version(),
      list: await client.list(),
      show: await client.show({ model }),
      ps: await client.ps(),
      generate: await client.generate({ model, prompt: "hi", options }),
      chat: await client.chat({ model, messages, options }),
      chatStream: await collect(await client.chat({ model, messages, options, stream: true })),
      generateStream: await collect(
        await client.generate({ model, prompt: "hi", options, stream: true }),
      ),
      pull: await client.pull({ model }),
      missing: await caught(() => client.chat({ model: "nope", messages })),
      push: await caught(() => client.push({ model })),
      badOption: await caught(() =>
        client.generate({ model, prompt: "x", options: { temperature: "hot" } }),
      ),
    };
  },

  async abort() {
    // AbortableAsyncIterator.abort() mid-stream: the client stops reading.
    const stream = await client.generate({
      model: args.model,
      prompt: "hi",
      stream: true,
      options: { num_predict: 200 },
    });
    let seen = 0;
    let aborted = null;
    try {
      for await (const _ of stream) {
        seen += 1;
        if (seen === 2) stream.abort();
      }
    } catch (e) {
      aborted = e.name;
    }
    return { seen, aborted };
  },

  async tools() {
    const request = {
      model: args.model,
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: args.tools,
      format: args.format,
      options: { num_predict: 64, temperature: 0 },
    };
    return {
      whole: await client.chat(request),
      streamed: await collect(await client.chat({ ...request, stream: true })),
    };
  },

  async embed() {
    const model = args.model;
    return {
      one: await client.embed({ model, input: "Cows graze in the pasture." }),
      many: await client.embed({ model, input: ["a cow", "a field"] }),
      legacy: await client.embeddings({ model, prompt: "a cow" }),
    };
  },
};

scenarios[scenario]().then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  },
);
