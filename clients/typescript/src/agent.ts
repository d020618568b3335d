// A TypeScript agent trained by an ajet run: node dist/agent.js URL TOKEN_FILE [NAME]
// It claims episodes until the run ends, asks the policy each task's question through the
// official openai package, and finishes with a reward: 1 when the reply has a digit.

import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { EpisodeApiError, EpisodeClient } from "./episodes.js";

async function main(): Promise<void> {
  const [url, tokenFile, name = `typescript-${process.pid}`] = process.argv.slice(2);
  const token = readFileSync(tokenFile, "utf8").trim();
  const client = new EpisodeClient(url, token, name);
  let finished = 0;
  for (;;) {
    let episode;
    try {
      episode = await client.claim(5);
    } catch (error) {
      // 410: the run has finished; 503: it stopped early and may be resumed; a refused
      // connection: it has gone.
      if (error instanceof EpisodeApiError && error.status === 410) break;
      if (error instanceof EpisodeApiError && error.status === 503) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (error instanceof TypeError) break;
      throw error;
    }
    if (episode === null) continue;
    try {
      const llm = new OpenAI({ baseURL: episode.claim.base_url, apiKey: episode.claim.api_key });
      const reply = await llm.chat.completions.create({
        model: episode.claim.model,
        messages: [{ role: "user", content: episode.claim.task.main_query }],
      });
      const text = reply.choices[0]?.message.content ?? "";
      await episode.finish(/\d/.test(text) ? 1 : 0, { worker: name, language: "typescript" });
      finished += 1;
    } catch (error) {
      await episode.abort(String(error));
    }
  }
  console.log(`${name}: finished ${finished} episodes`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
