"""The running batch: one left-padded KV cache shared by every request being decoded.

A new request is prefilled alone (so its prompt is computed exactly as in a batch of one) and
then joins: whichever of the batch cache and the new cache is shorter is left-padded with zero
keys/values that the attention mask hides. Finished rows are dropped and columns that are padding
in every remaining row are trimmed. Each row keeps its own position counter, so RoPE positions
never count padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _layers(cache):
    return cache.layers


def left_pad_cache(cache, width: int) -> None:
    """Prepend ``width`` zero columns to every layer's keys and values, in place."""
    if width <= 0:
        return
    for layer in _layers(cache):
        layer.keys = F.pad(layer.keys, (0, 0, width, 0))
        layer.values = F.pad(layer.values, (0, 0, width, 0))


class RunningBatch:
    def __init__(self) -> None:
        self.rows: list = []  # Request objects, one per batch row
        self.cache = None
        self.mask: torch.Tensor | None = None  # (rows, cache length): 1 = real token
        self.positions: torch.Tensor | None = None  # (rows,): position of each row's next token
        self.last_tokens: torch.Tensor | None = None  # (rows,): token to feed next

    def __len__(self) -> int:
        return len(self.rows)

    def join(self, request, cache, prompt_len: int, first_token: int, device) -> None:
        """Add a prefilled request (its cache holds ``prompt_len`` columns)."""
        mask = torch.ones((1, prompt_len), dtype=torch.long, device=device)
        position = torch.tensor([prompt_len], device=device)
        token = torch.tensor([first_token], device=device)
        if not self.rows:
            self.rows, self.cache, self.mask = [request], cache, mask
            self.positions, self.last_tokens = position, token
            return
        width = max(self.mask.shape[1], prompt_len)
        left_pad_cache(self.cache, width - self.mask.shape[1])
        left_pad_cache(cache, width - prompt_len)
        for mine, theirs in zip(_layers(self.cache), _layers(cache)):
            mine.keys = torch.cat([mine.keys, theirs.keys], dim=0)
            mine.values = torch.cat([mine.values, theirs.values], dim=0)
        self.mask = torch.cat(
            [
                F.pad(self.mask, (width - self.mask.shape[1], 0)),
                F.pad(mask, (width - prompt_len, 0)),
            ]
        )
        self.positions = torch.cat([self.positions, position])
        self.last_tokens = torch.cat([self.last_tokens, token])
        self.rows.append(request)

    def keep(self, keep_rows: list[int]) -> None:
        """Keep only the given row indices; trim columns that are padding everywhere."""
        if len(keep_rows) == len(self.rows):
            return
        if not keep_rows:
            self.__init__()
            return
        index = torch.tensor(keep_rows, device=self.mask.device)
        self.mask = self.mask.index_select(0, index)
        leading = int((self.mask.sum(dim=0) == 0).long().cumprod(dim=0).sum())
        self.mask = self.mask[:, leading:]
        for layer in _layers(self.cache):
            layer.keys = layer.keys.index_select(0, index)[:, :, leading:]
            layer.values = layer.values.index_select(0, index)[:, :, leading:]
        self.positions = self.positions.index_select(0, index)
        self.last_tokens = self.last_tokens.index_select(0, index)
        self.rows = [self.rows[i] for i in keep_rows]
