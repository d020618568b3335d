"""An AgentJet-style LangChain workflow: ``create_agent`` over ``ChatOpenAI`` pointed at
``as_oai_baseurl_apikey()``, run with the synchronous ``agent.invoke`` inside
``async execute``, as AgentJet's LangChain math tutorial does."""

from langchain.agents import create_agent
from langchain_openai import ChatOpenAI

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class LangChainMathAgent(Workflow):
    name: str = "langchain_math_agent"
    system_prompt: str = "Solve the problem. Put the final answer in \\boxed{}."

    async def execute(self, workflow_task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        url_and_apikey = tuner.as_oai_baseurl_apikey()
        api_key = url_and_apikey.api_key
        llm = ChatOpenAI(base_url=url_and_apikey.base_url, api_key=lambda: api_key)
        agent = create_agent(model=llm, system_prompt=self.system_prompt)
        response = agent.invoke(
            {"messages": [{"role": "user", "content": workflow_task.task.main_query}]}
        )
        final_answer = response["messages"][-1].content
        return WorkflowOutput(reward=None, metadata={"final_answer": final_answer})
