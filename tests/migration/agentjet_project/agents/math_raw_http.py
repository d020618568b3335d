"""An AgentJet-style raw-HTTP workflow: ``requests.post`` (a synchronous client) inside
``async execute``, to the base URL and key from ``as_oai_baseurl_apikey()``, as AgentJet's
raw-HTTP math tutorial does."""

import requests

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class RawHttpMathAgent(Workflow):
    name: str = "raw_http_math_agent"
    system_prompt: str = "Solve the problem. Put the final answer in \\boxed{}."

    async def execute(self, workflow_task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        url_and_apikey = tuner.as_oai_baseurl_apikey()
        response = requests.post(
            f"{url_and_apikey.base_url}/chat/completions",
            json={
                "model": "whatever",  # the gateway serves the policy whatever the name
                "messages": [
                    {"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": workflow_task.task.main_query},
                ],
            },
            headers={"Authorization": f"Bearer {url_and_apikey.api_key}"},
        )
        final_answer = response.json()["choices"][0]["message"]["content"]
        return WorkflowOutput(reward=None, metadata={"final_answer": final_answer})
