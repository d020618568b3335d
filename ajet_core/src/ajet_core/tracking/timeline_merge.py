"""``timeline_merge`` (default): the calls of one conversation become one sample.

Rules (DESIGN section 6):

1. A call's *parent* is the earlier call of the same agent and target tag with the longest
   prompt + response ids that are a prefix of this call's prompt, or the call of another agent
   whose tokens the gateway reused for this prompt (``parent_call_id``: agents sharing one
   message list). Other agents' calls, and conversations that were rewritten (a memory
   summary, a new system prompt), have no parent: they start their own samples. Only trainable
   calls take part, so ``trainable_targets`` still decides what is trained.
2. A call with several children (a fork, a retry) continues into its first child only; the other
   children start new samples in which the parent's tokens are context at mask 0. So every
   sampled token is trained in exactly one sample.
3. A sample is a chain of parent -> first child links; its ids are the last call's ids.

Causal attention makes the logits at a position depend only on the tokens before it, and a
chain's calls share those tokens exactly, so per-token logprobs (and, with one token-mean
normaliser per batch, the loss and its gradient) are the same as with ``per_call`` samples.
"""

from __future__ import annotations

from ajet_core.schema import LlmCall
from ajet_core.tracking.base import Tracker, is_prefix


class TimelineMergeTracker(Tracker):
    name = "timeline_merge"

    def chains(self, calls: list[LlmCall]) -> list[list[LlmCall]]:
        # Calls are recorded when they finish; order by start so a parent precedes its children.
        ordered = sorted(enumerate(calls), key=lambda item: (item[1].started_at, item[0]))
        calls = [call for _, call in ordered]
        heir: dict[int, int] = {}  # parent index -> the child that continues its sample
        continues_parent: set[int] = set()
        for j in range(len(calls)):
            parent = self._parent(calls, j)
            if parent is not None and parent not in heir:
                heir[parent] = j
                continues_parent.add(j)
        chains = []
        for start in range(len(calls)):
            if start in continues_parent:
                continue
            chain = [calls[start]]
            node = start
            while node in heir:
                node = heir[node]
                chain.append(calls[node])
            chains.append(chain)
        return chains

    @staticmethod
    def _parent(calls: list[LlmCall], j: int) -> int | None:
        child = calls[j]
        best, best_len = None, -1
        for i in range(j):
            call = calls[i]
            other_agent = call.agent != child.agent or call.target_tag != child.target_tag
            # Another agent's call is a parent only when the gateway built the child's prompt
            # from its tokens (one message list shared by two agents).
            if other_agent and child.parent_call_id != call.call_id:
                continue
            full_len = len(call.prompt_ids) + len(call.response_ids)
            if full_len > best_len and full_len <= len(child.prompt_ids):
                if is_prefix(call.prompt_ids, child.prompt_ids) and (
                    child.prompt_ids[len(call.prompt_ids) : full_len] == call.response_ids
                ):
                    best, best_len = i, full_len
        return best
