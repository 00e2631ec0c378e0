"""Inference: turn a stream of audio chunks into segment scores, track scores and an embedding.

A segment is one model patch (``patch_frames`` log-mel frames, about 3 s).
Track scores pool the segment probabilities as the model says (``ModelConfig.pooling``:
their mean, or their top quarter's mean log-odds); the track embedding is the mean of
segment embeddings, scaled to unit length. A model that carries genre regressions on the
sound embedding (``Tagger.heard``) has them averaged in by the indexing stage that knows
the sound embedding (``pipeline.stages.tag``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from cuefinder.features import FeatureConfig, stream_log_mel
from cuefinder.model import checkpoint
from cuefinder.model.config import pool_segments


@dataclass
class Tagged:
    """The tagger's output for one track."""

    duration: float  # seconds of decoded audio
    peak_dbfs: float
    segment_seconds: float
    segment_scores: np.ndarray  # (segments, genres) float32 probabilities
    track_scores: np.ndarray  # (genres,) float32
    embedding: np.ndarray  # (embedding_dim,) float32, unit length
    segment_embeddings: np.ndarray  # (segments, embedding_dim) float32, unit rows
    segment_tag_scores: np.ndarray | None = None  # (segments, tags) pretrained tags, if any

    @property
    def tag_scores(self) -> np.ndarray | None:
        """(tags,) mean pretrained tag probability over segments, if the model has tags."""
        if self.segment_tag_scores is None:
            return None
        if len(self.segment_tag_scores) == 0:
            return np.zeros(self.segment_tag_scores.shape[1], np.float32)
        return self.segment_tag_scores.mean(axis=0).astype(np.float32)


class Tagger:
    """A loaded model plus its front end, ready to tag audio."""

    def __init__(self, model, info: checkpoint.ModelInfo, batch_size: int = 64, heard=None):
        self.model = model.eval()
        self.info = info
        self.batch_size = batch_size
        self.heard = heard  # genre regressions on the sound embedding (model/heard.py), if any

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Tagger:
        model, info = checkpoint.load(path)
        return cls(model, info, heard=checkpoint.load_heard(info))

    @property
    def features(self) -> FeatureConfig:
        return self.info.features

    @property
    def genres(self) -> tuple[str, ...]:
        return self.info.genres

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def segment_seconds(self) -> float:
        return self.info.config.patch_frames / self.features.frames_per_second

    @property
    def tags(self) -> tuple[str, ...]:
        return self.info.tags

    @torch.inference_mode()
    def tag_patches(self, patches: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, genres) and embeddings (n, dim) of patches (n, mels, frames)."""
        probs, embeddings, _ = self._outputs(patches)
        return probs, embeddings

    @torch.inference_mode()
    def _outputs(self, patches: torch.Tensor):
        """Genre probabilities, embeddings and pretrained tag probabilities (or None)."""
        probs, embeddings, tags = [], [], []
        for start in range(0, len(patches), self.batch_size):
            batch = patches[start : start + self.batch_size]
            if self.tags:
                logits, embedding, tag_probs = self.model.outputs(batch)
                tags.append(tag_probs)
            else:
                logits, embedding = self.model(batch)
            probs.append(torch.sigmoid(logits))
            embeddings.append(embedding)
        tag_array = torch.cat(tags).numpy() if tags else None
        return torch.cat(probs).numpy(), torch.cat(embeddings).numpy(), tag_array

    def tag_stream(self, chunks: Iterable[np.ndarray]) -> Tagged:
        """Tag a whole track from its audio chunks, holding one batch of patches at a time."""
        level = _Level()
        frames = stream_log_mel(level.watch(chunks), self.features)
        return self._tag(frames, lambda: (level.samples / self.features.sample_rate, level.dbfs))

    def tag_frames(self, frames, duration: float, peak_dbfs: float) -> Tagged:
        """Tag a track from its whole log-mel (n_mels, frames) array, computed elsewhere (the
        decoding stage of an indexing run, ``features.log_mel``)."""
        block = torch.as_tensor(np.asarray(frames, np.float32))
        return self._tag(iter([block] if block.shape[1] else []), lambda: (duration, peak_dbfs))

    def _tag(self, frame_blocks, level) -> Tagged:
        probs, embeddings, tags = [], [], []
        for batch in self._patch_batches(frame_blocks):
            p, e, t = self._outputs(batch)
            probs.append(p)
            embeddings.append(e)
            if t is not None:
                tags.append(t)
        duration, dbfs = level()  # known once the frames have been read
        if not probs:
            width, dim = len(self.genres), self.info.config.output_dim
            return Tagged(
                duration,
                dbfs,
                self.segment_seconds,
                np.zeros((0, width), np.float32),
                np.zeros(width, np.float32),
                np.zeros(dim, np.float32),
                np.zeros((0, dim), np.float32),
                np.zeros((0, len(self.tags)), np.float32) if self.tags else None,
            )
        segment_scores = np.concatenate(probs).astype(np.float32)
        segment_embeddings = np.concatenate(embeddings).astype(np.float32)
        return Tagged(
            duration,
            dbfs,
            self.segment_seconds,
            segment_scores,
            pool_segments(segment_scores, self.info.config.pooling),
            unit(segment_embeddings.mean(axis=0)),
            unit(segment_embeddings),
            np.concatenate(tags).astype(np.float32) if tags else None,
        )

    def _patch_batches(self, frame_blocks: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Non-overlapping patches of frame blocks; a clip shorter than a patch is looped."""
        width = self.info.config.patch_frames
        pending = torch.zeros(self.features.n_mels, 0)
        patches: list[torch.Tensor] = []
        emitted = False
        for block in frame_blocks:
            pending = torch.cat([pending, block], dim=1)
            while pending.shape[1] >= width:
                patches.append(pending[:, :width])
                pending = pending[:, width:]
                if len(patches) == self.batch_size:
                    yield torch.stack(patches)
                    patches, emitted = [], True
        if not patches and not emitted and pending.shape[1] > 0:
            repeats = -(-width // pending.shape[1])
            patches.append(pending.repeat(1, repeats)[:, :width])
        if patches:
            yield torch.stack(patches)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors scaled to unit length along the last axis (zero vectors stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class _Level:
    """Counts samples and tracks the peak of a chunk stream as it passes."""

    def __init__(self):
        self.samples = 0
        self.peak = 0.0

    def watch(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for chunk in chunks:
            self.samples += len(chunk)
            if len(chunk):
                self.peak = max(self.peak, float(np.abs(chunk).max()))
            yield chunk

    @property
    def dbfs(self) -> float:
        return 20 * np.log10(max(self.peak, 1e-10))
