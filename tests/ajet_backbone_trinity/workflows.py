"""A two-turn workflow for the trinity seam tests (named in configs by file path): the second call
extends the first conversation, so the core merges both calls into one sample whose loss mask has
an untrained user turn in the middle."""

from __future__ import annotations

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class TwoTurnAgent(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        messages = [{"role": "user", "content": task.task.main_query}]
        first = await client.chat.completions.create(messages=messages)
        messages += [
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": "Are you sure? Answer again."},
        ]
        second = await client.chat.completions.create(messages=messages)
        return WorkflowOutput(metadata={"final_answer": second.choices[0].message.content or ""})


class FlakyAgent(Workflow):
    """The quickstart's one call, then the second draw of every group raises: 1 episode in 4 fails
    after using the model."""

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        if task.task_thread_index == 1:
            raise RuntimeError("the flaky agent fails its second draw")
        return WorkflowOutput(metadata={"final_answer": reply.choices[0].message.content or ""})


class BrokenAgent(Workflow):
    """Every episode raises before calling the model."""

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        raise RuntimeError("the broken agent always fails")


class TwoConversationsAgent(Workflow):
    """Two separate conversations per episode (the second does not extend the first), so every
    episode yields two samples: a step sends twice ``train_batch_size`` experiences."""

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        replies = []
        for question in (task.task.main_query, "And what is 1 + 1?"):
            reply = await client.chat.completions.create(
                messages=[{"role": "user", "content": question}]
            )
            replies.append(reply.choices[0].message.content or "")
        return WorkflowOutput(metadata={"final_answer": replies[0]})
