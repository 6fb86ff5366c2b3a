// Drives Open WebUI (served at <webui url>, connected to a Pasture runtime) in
// headless Chromium through playwright-core, as a person would: open the
// model selector, pick the model, send a message, wait for the streamed reply.
// Prints what it saw as one JSON object (tests/runtime/test_open_webui.py
// checks it); on failure, a screenshot goes to <out dir>/failure.png.
//
//   node open_webui.cjs <dir holding node_modules> <chromium> <webui url> <model> <out dir>
"use strict";
const path = require("node:path");

const [modulesDir, chromiumPath, webui, model, outDir] = process.argv.slice(2);
const { chromium } = require(path.join(modulesDir, "node_modules", "playwright-core"));

// Chromium on a closed network: no background connections (they fail, many at once).
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function api(page, route, body) {
  return page.evaluate(
    async ([r, b]) => {
      const headers = { Authorization: `Bearer ${localStorage.token}` };
      const init = b ? { method: "POST", body: JSON.stringify(b) } : {};
      if (b) headers["Content-Type"] = "application/json";
      const res = await fetch(r, { ...init, headers });
      return res.json();
    },
    [route, body],
  );
}

async function lastReply(page) {
  const chats = await api(page, "/api/v1/chats/?page=1");
  if (!chats.length) return null;
  const chat = await api(page, `/api/v1/chats/${chats[0].id}`);
  const messages = Object.values(chat.chat.history.messages);
  return messages.find((m) => m.role === "assistant") || null;
}

async function run(page) {
  const frames = [];
  page.on("websocket", (ws) =>
    ws.on("framereceived", (f) => {
      if (typeof f.payload === "string" && f.payload.includes("chat:completion")) frames.push(f.payload);
    }),
  );
  await page.goto(webui, { timeout: 180000 });
  await page.waitForSelector("#model-selector-model-button", { timeout: 180000 });
  // Settings > Advanced Params > Function Calling: "legacy". The default
  // ("native") offers Open WebUI's 36 built-in tools with every chat, about 19k
  // tokens: more than the tiny model's 2048-token window (Pasture answers
  // that with a 400 Open WebUI shows in the chat, as the README of this test says).
  await api(page, "/api/v1/users/user/settings/update", { ui: { params: { function_calling: "legacy" } } });
  await page.reload();
  await page.waitForSelector("#model-selector-model-button", { timeout: 180000 });
  await page.keyboard.press("Escape"); // the "What's New" dialog of a first visit
  await page.click("#model-selector-model-button");
  const listed = await page.getByRole("option").or(page.getByRole("button").filter({ hasText: model })).allInnerTexts();
  await page.getByText(model, { exact: true }).first().click();
  const selected = await page.innerText("#model-selector-model-button");
  await page.click("#chat-input");
  await page.keyboard.type("Hello from Open WebUI");
  await page.keyboard.press("Enter");
  let reply = null;
  for (let i = 0; i < 240 && !(reply && reply.done); i++) {
    await page.waitForTimeout(500);
    reply = await lastReply(page);
  }
  // The reply on the page: the words of the (random) reply found in the chat pane.
  const words = (reply && reply.content.match(/[A-Za-z]{3,}/g)) || [];
  const pane = await page.innerText("#chat-container");
  const shown = words.filter((w) => pane.includes(w)).length;
  const models = await api(page, "/api/models");
  return { listed, selected, reply, words: words.length, shown, streamedFrames: frames.length, models };
}

(async () => {
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ARGS });
  const page = await browser.newPage();
  try {
    process.stdout.write(JSON.stringify(await run(page)));
  } catch (e) {
    await page.screenshot({ path: path.join(outDir, "failure.png") }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
