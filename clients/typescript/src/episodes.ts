// The episode API (version 1) from TypeScript: claim, heartbeat, finish, abort. Plain fetch,
// no dependency; the protocol is in the repository's docs/remote_agents.md.

export const API_VERSION = 1;

export interface ClaimedEpisode {
  api_version: number;
  episode_id: string;
  mode: string;
  task: { task_id: string; main_query: string; metadata: Record<string, unknown> };
  base_url: string;
  api_key: string;
  model: string;
  trainable_targets: string[] | null;
  lease: { token: string; seconds: number; expires_in: number };
  deadline_in: number;
}

export class EpisodeApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

async function refused(response: Response): Promise<EpisodeApiError> {
  try {
    const body = (await response.json()) as { error: { code: string; message: string } };
    return new EpisodeApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new EpisodeApiError(response.status, "http_error", response.statusText);
  }
}

export class EpisodeClient {
  constructor(
    readonly url: string,
    private readonly token: string,
    readonly worker: string,
  ) {}

  /** The next episode, or null when none was queued within waitSeconds. */
  async claim(waitSeconds = 20): Promise<Episode | null> {
    const response = await fetch(`${this.url}/ajet/v1/episodes/claim`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ worker: this.worker, wait_seconds: waitSeconds }),
    });
    if (response.status === 204) return null;
    if (!response.ok) throw await refused(response);
    const claim = (await response.json()) as ClaimedEpisode;
    if (claim.api_version !== API_VERSION) {
      throw new EpisodeApiError(200, "api_version", `the run speaks ${claim.api_version}`);
    }
    return new Episode(this.url, claim);
  }
}

export class Episode {
  private readonly beat: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    readonly claim: ClaimedEpisode,
  ) {
    // Heartbeats at a third of the lease keep the claim while this process lives.
    this.beat = setInterval(() => {
      this.post("heartbeat").catch(() => undefined);
    }, (claim.lease.seconds * 1000) / 3);
  }

  async finish(reward: number, metadata: Record<string, unknown> = {}): Promise<void> {
    await this.end("finish", { reward, metadata });
  }

  async abort(reason: string): Promise<void> {
    await this.end("abort", { reason });
  }

  private async end(action: string, body: object): Promise<void> {
    try {
      await this.post(action, body);
    } finally {
      clearInterval(this.beat);
    }
  }

  private async post(action: string, body: object = {}): Promise<unknown> {
    const response = await fetch(
      `${this.url}/ajet/v1/episodes/${this.claim.episode_id}/${action}`,
      {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.claim.lease.token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(body),
      },
    );
    if (!response.ok) throw await refused(response);
    return response.json();
  }
}
