"""``env_service``: the environment's own evaluation of the episode is the reward.

    task_reader:
      type: env_service
      ...
    judger:
      type: env_service
      success_threshold: 1.0     # score >= threshold: is_success
      shaping: raw               # or 'agentjet': success 1 + 0.5*score, failure 0.5*score

Works with the ``env_service`` reader, which records each episode's instance in
``task.metadata['env_instance']`` and keeps it alive until the judger has run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.envs.client import EnvServiceClient
from ajet_plugins_std.judgers.fields import JudgeInputError
from ajet_plugins_std.readers.env_service import ENV_INSTANCE_KEY


class EnvServiceJudgerConfig(JudgerConfig):
    success_threshold: float = 1.0
    shaping: Literal["raw", "agentjet"] = "raw"
    # Passed to the server's evaluate (AgentJet sends {"sparse": false}).
    params: dict[str, Any] = Field(default_factory=lambda: {"sparse": False})
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0)


class EnvServiceJudger(Judger):
    options_model = EnvServiceJudgerConfig
    options: EnvServiceJudgerConfig

    def __init__(self, config: EnvServiceJudgerConfig | None = None) -> None:
        super().__init__(config)
        self._clients: dict[str, EnvServiceClient] = {}

    def _instance(self, task: Task) -> tuple[EnvServiceClient, str]:
        ref = task.metadata.get(ENV_INSTANCE_KEY)
        if not isinstance(ref, dict) or not ref.get("url") or not ref.get("instance_id"):
            raise JudgeInputError(
                f"env_service judger: task {task.task_id!r} has no environment instance "
                f"(metadata[{ENV_INSTANCE_KEY!r}]); use it with task_reader.type: env_service, "
                "whose episodes each run against an instance"
            )
        url = ref["url"]
        if url not in self._clients:
            self._clients[url] = EnvServiceClient(
                url, timeout=self.options.timeout, retries=self.options.retries
            )
        return self._clients[url], ref["instance_id"]

    def _result(self, score: float) -> JudgeResult:
        success = score >= self.options.success_threshold
        reward = score
        if self.options.shaping == "agentjet":
            reward = (1.0 if success else 0.0) + 0.5 * score
        return JudgeResult(reward, success, {"env_score": score})

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        client, instance_id = self._instance(task)
        return self._result(client.evaluate(instance_id, self.options.params))

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        client, instance_id = self._instance(task)
        return self._result(await client.aevaluate(instance_id, self.options.params))
