"""Prefix-tree packing: samples that share a token prefix are forwarded as one tree.

The G samples of a GRPO group repeat their prompt; branched timelines (retries, forks, rewritten
memory, several agents) repeat their common history. Here every distinct prefix becomes one node
of a trie, so a shared token is computed once in the forward and the backward pass. A node
attends to its ancestors and itself only (a tree attention mask) and sits at its depth in the
sample (position id = token index), so its hidden state is exactly the one the unpacked sample
would give it: the logits that predict token ``i`` of a sample are those of the node of token
``i - 1``, whichever sample put that node there.

Every trained token keeps its own entry (old logprob, advantage, weight), even where two samples
train the same node, so the loss is the unpacked loss term for term and the gradient equals the
unpacked gradient (the shared node's gradient is the sum of what its copies would receive).

Memory stays bounded: a tree grows to at most ``micro_batch_tokens`` nodes (a sample longer
than that gets a tree of its own), and trees are grouped into micro-batches of rows x widest row
<= ``micro_batch_tokens``, as unpacked samples are. A sample joins a tree only when it shares at
least ``min_shared_tokens`` and ``min_shared_fraction`` of its tokens with it: a masked attention
over one wide row costs more per token than causal attention over short rows (measured on CPU:
a tree sharing 3% of its tokens trained 1.8x slower), so a small saving is not worth a tree. A
micro-batch whose trees are all chains keeps the plain causal path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ajet_backbone_debug.training.batching import (
    LossAgg,
    MicroBatch,
    PackedBatch,
    TrainedTokens,
    canonical_order,
    plan_micro_batches,
    token_weight,
)
from ajet_core.schema import Sample

# Shared prefix below which a sample starts its own tree rather than join one: in tokens, and as
# a fraction of the sample's length.
DEFAULT_MIN_SHARED_TOKENS = 16
DEFAULT_MIN_SHARED_FRACTION = 0.25


@dataclass
class PrefixTree:
    """One trie of token prefixes, stored in insertion order (a parent precedes its children)."""

    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)  # -1 for a root
    depths: list[int] = field(default_factory=list)
    sample_indices: list[int] = field(default_factory=list)
    # node_of[k][i]: the node of token i of the k-th sample of this tree
    node_of: list[list[int]] = field(default_factory=list)
    _children: list[dict[int, int]] = field(default_factory=list, repr=False)
    _roots: dict[int, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def shared_length(self, ids: Sequence[int]) -> int:
        """How many leading tokens of ``ids`` are already nodes of this tree."""
        children, depth = self._roots, 0
        for token in ids:
            node = children.get(token)
            if node is None:
                break
            children, depth = self._children[node], depth + 1
        return depth

    def add(self, index: int, ids: Sequence[int]) -> None:
        """Insert sample ``index`` (its token ids): new nodes only where its prefix is new."""
        nodes: list[int] = []
        children, parent = self._roots, -1
        for depth, token in enumerate(ids):
            node = children.get(token)
            if node is None:
                node = len(self.tokens)
                self.tokens.append(token)
                self.parents.append(parent)
                self.depths.append(depth)
                self._children.append({})
                children[token] = node
            nodes.append(node)
            children, parent = self._children[node], node
        self.sample_indices.append(index)
        self.node_of.append(nodes)

    @property
    def is_chain(self) -> bool:
        """A single path (one sample, or samples that are prefixes of one another)."""
        return all(parent == node - 1 for node, parent in enumerate(self.parents))

    def ancestor_mask(self, width: int) -> torch.Tensor:
        """(width, width) bool: row j is True at j's ancestors and j itself.

        Padding rows (beyond the tree) see only themselves, so attention never normalises over
        an empty row (that would give NaN); their outputs are never read.
        """
        mask = torch.zeros((width, width), dtype=torch.bool)
        for node, parent in enumerate(self.parents):
            if parent >= 0:
                mask[node] = mask[parent]
            mask[node, node] = True
        for pad in range(len(self.parents), width):
            mask[pad, pad] = True
        return mask


def build_trees(
    samples: Sequence[Sample],
    order: Sequence[int],
    budget: int,
    min_shared_tokens: int = DEFAULT_MIN_SHARED_TOKENS,
    min_shared_fraction: float = DEFAULT_MIN_SHARED_FRACTION,
) -> list[PrefixTree]:
    """Trees of the samples ``order`` lists, each at most ``budget`` nodes where possible.

    Samples are visited in token order (lexicographic), so the sample sharing the longest prefix
    with a tree is always its previous one and one open tree at a time suffices.
    """
    by_tokens = sorted(order, key=lambda i: samples[i].input_ids)
    trees: list[PrefixTree] = []
    for index in by_tokens:
        ids = samples[index].input_ids
        if trees:
            tree = trees[-1]
            shared = tree.shared_length(ids)
            worth_it = shared >= min(min_shared_tokens, len(ids)) and (
                shared >= min_shared_fraction * len(ids)
            )
            if worth_it and len(tree) + len(ids) - shared <= budget:
                tree.add(index, ids)
                continue
        trees.append(PrefixTree())
        trees[-1].add(index, ids)
    return trees


def pack_prefix_trees(
    samples: Sequence[Sample],
    micro_batch_tokens: int,
    loss_agg: LossAgg,
    pad_token_id: int = 0,
    device: torch.device | str = "cpu",
    min_shared_tokens: int = DEFAULT_MIN_SHARED_TOKENS,
) -> PackedBatch:
    """Like :func:`~.batching.pack_samples`, with each row a prefix tree of samples."""
    trained = canonical_order(samples)
    num_tokens = sum(samples[i].num_trained_tokens for i in trained)
    trees = build_trees(samples, trained, micro_batch_tokens, min_shared_tokens)
    micro_batches = [
        _build(
            samples,
            [trees[k] for k in group],
            loss_agg,
            num_tokens,
            len(trained),
            pad_token_id,
            device,
        )
        for group in plan_micro_batches([len(t) for t in trees], micro_batch_tokens)
    ]
    return PackedBatch(micro_batches, len(trained), num_tokens, len(samples) - len(trained))


def _build(
    samples: Sequence[Sample],
    trees: list[PrefixTree],
    loss_agg: LossAgg,
    batch_tokens: int,
    batch_samples: int,
    pad_token_id: int,
    device: torch.device | str,
) -> MicroBatch:
    width = max(len(t) for t in trees)
    input_ids = torch.full((len(trees), width), pad_token_id, dtype=torch.long)
    padding = torch.zeros((len(trees), width), dtype=torch.long)
    position_ids = torch.zeros((len(trees), width), dtype=torch.long)
    trained = TrainedTokens()
    owners: list[int] = []
    sample_indices: list[int] = []
    for row, tree in enumerate(trees):
        input_ids[row, : len(tree)] = torch.tensor(tree.tokens, dtype=torch.long)
        padding[row, : len(tree)] = 1
        position_ids[row, : len(tree)] = torch.tensor(tree.depths, dtype=torch.long)
        for index, nodes in zip(tree.sample_indices, tree.node_of):
            sample = samples[index]
            weight = token_weight(sample, loss_agg, batch_tokens, batch_samples)
            owner = len(sample_indices)
            sample_indices.append(index)
            owners += [owner] * trained.add(sample, row, weight, slot_of=nodes)
    if all(tree.is_chain for tree in trees):
        # Nothing branches: the ordinary causal mask over right-padded rows is the tree mask.
        attention_mask, position_ids_or_none = padding, None
    else:
        attention_mask = torch.stack([t.ancestor_mask(width) for t in trees]).unsqueeze(1)
        position_ids_or_none = position_ids.to(device)
    return MicroBatch(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        **trained.tensors(device),
        sample_indices=sample_indices,
        owners=torch.tensor(owners, dtype=torch.long, device=device),
        position_ids=position_ids_or_none,
        real_tokens=int(padding.sum()),
    )
