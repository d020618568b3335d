"""Learn to ask: the trained model is a doctor who questions a simulated patient.

The patient opens with a complaint; the doctor asks ``max_turns`` questions, one LLM call each,
and the patient (patient.py, rule-based) answers each from the case record. Every call extends
the previous conversation, so the gateway reuses the sampled tokens and the ``timeline_merge``
tracker trains the consultation as one sample. The workflow returns no reward: the judger
(judger.py) scores the transcript.
"""

from __future__ import annotations

# A sibling file: the folder of a config-named workflow file is on the import path.
from patient import Patient

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SYSTEM_PROMPT = (
    "You are a doctor talking to a patient. Find out the facts you need about their problem by "
    "asking short questions, exactly one question per message. Ask about something new each "
    "time."
)


def transcript(messages: list[dict]) -> str:
    """The consultation as the judge reads it: one 'doctor:' / 'patient:' line per message."""
    speaker = {"user": "patient", "assistant": "doctor"}
    return "\n".join(
        f"{speaker[m['role']]}: {m['content']}" for m in messages if m["role"] in speaker
    )


class Learn2AskAgent(Workflow):
    def __init__(self, max_turns: int = 4, max_tokens: int = 40, **kwargs) -> None:
        super().__init__(**kwargs)
        if max_turns < 1:
            raise ValueError(f"workflow.options.max_turns must be at least 1, got {max_turns}")
        self.max_turns, self.max_tokens = max_turns, max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        patient = Patient.from_case(task.task.metadata)
        client = tuner.as_raw_openai_sdk_client()
        messages: list[dict] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": patient.complaint},
        ]
        questions: list[str] = []
        for _ in range(self.max_turns):
            reply = await client.chat.completions.create(
                messages=messages, max_tokens=self.max_tokens
            )
            question = reply.choices[0].message.content or ""
            questions.append(question)
            messages.append({"role": "assistant", "content": question})
            messages.append({"role": "user", "content": patient.answer(question)})
        return WorkflowOutput(
            reward=None,
            metadata={
                "transcript": transcript(messages),
                "final_question": questions[-1],
                "revealed": list(patient.revealed),
            },
            log_metrics={"coverage": patient.coverage, "questions": float(len(questions))},
        )
