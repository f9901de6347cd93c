// Node clients against the gateway: `node scenarios.mjs <scenario>`, with APEX_URL, APEX_KEY and
// APEX_MODEL in the environment; prints one JSON line of what the client got.
import { generateObject, generateText, streamText } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { z } from "zod";

const { APEX_URL: url, APEX_KEY: apiKey, APEX_MODEL: model } = process.env;
const openaiProvider = createOpenAI({ baseURL: `${url}/v1`, apiKey });
const anthropicProvider = createAnthropic({ baseURL: `${url}/v1`, apiKey });
const weather = z.object({ city: z.string(), unit: z.string() });

const scenarios = {
  async "ai-openai-text"() {
    const { text } = await generateText({ model: openaiProvider.chat(model), prompt: "hi" });
    return { text };
  },
  async "ai-openai-stream"() {
    const result = streamText({ model: openaiProvider.chat(model), prompt: "hi" });
    let text = "";
    for await (const piece of result.textStream) text += piece;
    return { text };
  },
  async "ai-openai-object"() {
    const { object } = await generateObject({ model: openaiProvider.chat(model), schema: weather, prompt: "weather" });
    return { object };
  },
  async "ai-openai-responses-text"() {
    const { text } = await generateText({ model: openaiProvider.responses(model), prompt: "hi" });
    return { text };
  },
  async "ai-openai-responses-stream"() {
    const result = streamText({ model: openaiProvider.responses(model), prompt: "hi" });
    let text = "";
    for await (const piece of result.textStream) text += piece;
    return { text };
  },
  async "ai-openai-responses-object"() {
    const { object } = await generateObject({
      model: openaiProvider.responses(model), schema: weather, prompt: "weather" });
    return { object };
  },
  async "ai-anthropic-text"() {
    const { text } = await generateText({ model: anthropicProvider(model), prompt: "hi" });
    return { text };
  },
  async "ai-anthropic-stream"() {
    const result = streamText({ model: anthropicProvider(model), prompt: "hi" });
    let text = "";
    for await (const piece of result.textStream) text += piece;
    return { text };
  },
  async "ai-anthropic-object"() {
    const { object } = await generateObject({ model: anthropicProvider(model), schema: weather, prompt: "weather" });
    return { object };
  },
  async "anthropic-sdk-stream"() {
    const client = new Anthropic({ baseURL: url, apiKey, maxRetries: 0 });
    const stream = client.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    const message = await stream.finalMessage();
    return { text: message.content.map((b) => b.text ?? "").join(""), usage: message.usage };
  },
  async "openai-sdk-stream"() {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    return { text, usage };
  },
};

const name = process.argv[2];
try {
  console.log(JSON.stringify({ ok: true, ...(await scenarios[name]()) }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
  process.exitCode = 1;
}
