"""The OpenVINO backend of the embedding model: a sentence-transformers BERT converted once, then
loaded from disk without torch.

The first load converts the transformer (torch, ``openvino.convert_model``) and keeps the result in
``<model cache>/openvino/<key>/`` as OpenVINO IR with fp32 weights (``compress_to_fp16=False``: the
same graph and weights the conversion gave) plus the few tokenizer facts the encoder needs; later
loads read that IR and the ``tokenizer.json`` with the ``tokenizers`` library (no torch,
transformers or sentence-transformers import: those cost ~17 s CPU and ~450 MiB per process). The
compiled model is cached by OpenVINO itself (``CACHE_DIR``). The key covers the model folder, its
files' sizes and mtimes, and the OpenVINO version, so a changed model or upgrade converts again.

Mean pooling is done here; texts are sorted by token count and each batch padded to its longest,
rounded up to a multiple of ``WIDTH_STEP`` tokens, of 4 or 8 for batches of short texts (a batch ends
early rather than pad a text to over twice its length). The rounding bounds the number of distinct input shapes: OpenVINO's CPU plugin keeps
compiled kernels per shape, and one width per token count grew a 30-day backfill by ~1 GiB (measured:
250 shapes 2,111 MiB, the same texts in 16-token steps 606 MiB, and less CPU). Padding is masked, so a
text's vector does not depend on its batch's width beyond float rounding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

META = "encoder.json"
IR = "model.xml"
WIDTH_STEP = 16  # batch widths are rounded up to a multiple of this many tokens (see module doc)
# ... except short batches, which round to finer steps: (up to width, step). Keyphrases and headlines
# are 3-20 tokens: padded to 16 they cost 2-4x their work (1,651 keyphrases: 2.59 s -> 0.95 s).
FINE_STEPS = ((16, 4), (32, 8))
# Tokens per batch (rows x the longest) at most. 4,000 corpus texts: peak RSS 737 -> 569 MiB and CPU
# 31 -> 26 s against 64 texts of any width (cosine >= 0.9999998 to that).
TOKEN_BUDGET = 4096
TOKENIZE_CHUNK = 256  # texts per tokenizers call (its Rust-side encodings are freed between chunks)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks, uint8 ``(..., 18)`` (an fp16 scale, then 16 bytes: byte j holds weight j in its low
    nibble and weight j + 16 in its high one, both offset by 8) -> float32 ``(..., 32)``."""
    scale = np.ascontiguousarray(blocks[..., :2]).view("<f2").astype(np.float32)
    low = (blocks[..., 2:] & 0x0F).astype(np.int8) - 8
    high = (blocks[..., 2:] >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=-1).astype(np.float32) * scale


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def cache_key(model_path: Path) -> str:
    """A key for the converted model: folder (or single model file), its files' sizes and mtimes, and the
    OpenVINO version."""
    import openvino as ov

    parts = [str(model_path.resolve()), ov.get_version()]
    files = [model_path] if model_path.is_file() else sorted(p for p in model_path.rglob("*") if p.is_file())
    for f in files:
        st = f.stat()
        parts.append(f"{f.name if f == model_path else f.relative_to(model_path)}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def model_folder(model_path: Path, cache_root: Path) -> Path:
    """Where the converted model (and its precision record) lives in the model cache."""
    return cache_root / "openvino" / cache_key(model_path)


class _Tokens:
    """``tokenizer.json`` read by the ``tokenizers`` library with the settings the transformers fast
    tokenizer applies for ``tokenizer(texts, truncation=True, max_length=max_len)``: no padding,
    longest-first truncation at ``max_len``, special tokens added."""

    def __init__(self, tokenizer_json: Path, max_len: int) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tokenizer_json))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=max_len, stride=0, strategy="longest_first", direction="right")

    def __call__(self, texts: list[str]) -> dict[str, list[np.ndarray]]:
        """One int32 array per text and column. Tokenized in chunks and kept as arrays: as Python
        lists, a 30-day backfill's ~500k tokens x 3 columns held ~130 MiB that the allocator kept
        after the call (measured), on top of the encoder's own buffers."""
        out: dict[str, list[np.ndarray]] = {"input_ids": [], "attention_mask": [], "token_type_ids": []}
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            for e in self.tok.encode_batch(texts[start : start + TOKENIZE_CHUNK], add_special_tokens=True):
                out["input_ids"].append(np.array(e.ids, dtype=np.int32))
                out["attention_mask"].append(np.array(e.attention_mask, dtype=np.int32))
                out["token_type_ids"].append(np.array(e.type_ids, dtype=np.int32))
        return out


def _convert(model_path: Path, folder: Path) -> None:
    """Convert the sentence-transformers model at ``model_path`` to IR in ``folder`` (torch needed)."""
    import openvino as ov
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_path), device="cpu")
    modules = list(st)
    pooling = modules[1] if len(modules) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None and pooling is not None:
        mode = "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else None
    if mode != "mean":
        raise ValueError("only mean-pooling models are supported by the openvino backend")
    tokenizer = st.tokenizer
    if not (model_path / "tokenizer.json").is_file() or not getattr(tokenizer, "is_fast", False):
        raise ValueError("the openvino backend needs a fast tokenizer (tokenizer.json)")
    hf = modules[0].auto_model.eval()
    example = tokenizer(["hello world"], return_tensors="pt", padding=True)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(
            hf,
            example_input={n: example[n] for n in names},
            input=[(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in names],
        )
    meta = {
        "names": names,
        "max_len": int(st.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "dim": int((getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)()),
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    ov.save_model(model, str(tmp / IR), compress_to_fp16=False)
    (tmp / META).write_text(json.dumps(meta))
    try:
        os.replace(tmp, folder)  # atomic: a concurrent process either sees all of it or nothing
    except OSError:  # another process got there first
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def padded_width(longest: int, max_len: int, step: int = WIDTH_STEP) -> int:
    """``longest`` rounded up to a multiple of ``step`` (of a finer step for short widths:
    :data:`FINE_STEPS`), never past the model's ``max_len`` (unless the text itself is longer)."""
    step = next((s for limit, s in FINE_STEPS if longest <= limit), step)
    return max(longest, min(-(-longest // step) * step, max_len))


def _batches(lengths: np.ndarray, batch_size: int, token_budget: int = TOKEN_BUDGET) -> list[slice]:
    """Slices of ``lengths`` (sorted longest first) into batches of at most ``batch_size`` texts and
    ``token_budget`` tokens, rows x the longest (long texts come in smaller batches: the attention
    buffers grow with rows x width^2); a batch also ends before a text under half its width, so short texts are
    not padded to a long one (a text's vector does not depend on its batch: padding is masked out)."""
    out: list[slice] = []
    start = 0
    for i in range(1, len(lengths) + 1):
        if (i == len(lengths) or i - start == batch_size or 2 * lengths[i] < lengths[start]
                or (i - start + 1) * lengths[start] > token_budget):
            out.append(slice(start, i))
            start = i
    return out


class OpenVinoBert:
    """The converted transformer, compiled for the CPU; ``encode`` mean-pools and normalises.

    ``precision`` is ``bf16`` or ``fp32``; ``threads`` inference threads (the physical cores).
    ``convert(model_path, folder)`` writes the IR (default: a sentence-transformers folder);
    ``tokenizer(folder, max_len)`` gives the tokenizer (default: the model's ``tokenizer.json`` read by
    the ``tokenizers`` library); a ``prefix`` in its
    ``encoder.json`` is put before every text (e5's "passage: "), and a ``word_table`` there (a file of
    Q4_0 rows, one per token) means the graph takes ``inputs_embeds``: the token rows are looked up and
    dequantised here, from the memory-mapped file, so the 250k-token table never sits in memory as
    floats (e5's would be 384 MB).
    """

    def __init__(
        self,
        model_path: Path,
        precision: str,
        threads: int,
        cache_root: Path,
        convert: Callable[[Path, Path], None] | None = None,
        tokenizer: Callable[[Path, int], Callable[[list[str]], dict[str, Any]]] | None = None,
    ) -> None:
        import openvino as ov

        folder = model_folder(model_path, cache_root)
        if not (folder / META).is_file():
            log.info("converting %s to OpenVINO IR in %s (once per model and OpenVINO version)", model_path, folder)
            (convert or _convert)(model_path, folder)
        meta = json.loads((folder / META).read_text())
        self.names: list[str] = meta["names"]
        self.max_len = int(meta["max_len"])
        self.pad_id = int(meta["pad_id"])
        self.dim = int(meta["dim"])
        self.prefix = str(meta.get("prefix", ""))
        table = meta.get("word_table")
        self.word_table = np.load(folder / table, mmap_mode="r") if table else None
        self.tokenize: Callable[[list[str]], dict[str, Any]] = (
            tokenizer(folder, self.max_len) if tokenizer else _Tokens(model_path / "tokenizer.json", self.max_len)
        )
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, threads),
        }
        core = ov.Core()
        core.set_property({"CACHE_DIR": str(cache_root / "openvino" / "compiled")})
        self.compiled = core.compile_model(str(folder / IR), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Mean-pooled embeddings; texts sorted by token count, each batch padded to its longest."""
        enc = self.tokenize([self.prefix + t for t in texts] if self.prefix else list(texts))
        columns = {n: enc[n] for n in self.names}
        lengths = np.array([len(ids) for ids in enc["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in _batches(lengths[order], batch_size):
            rows = order[rows]
            width = padded_width(int(lengths[rows].max()), self.max_len)
            inputs = {}
            for n in self.names:
                batch = np.full((len(rows), width), self.pad_id if n == "input_ids" else 0, dtype=np.int64)
                for r, i in enumerate(rows):
                    batch[r, : lengths[i]] = columns[n][i]
                inputs[n] = batch
            if self.word_table is not None:  # the graph reads token vectors, not ids
                ids = inputs.pop("input_ids")
                rows_q4 = self.word_table[ids.ravel()].reshape(ids.size, -1, 18)
                inputs["inputs_embeds"] = dequantize_q4_0(rows_q4).reshape(*ids.shape, self.dim)
            with self._lock:  # one infer request, reused
                hidden = np.array(self.request.infer(inputs)[self.output], dtype=np.float32)
            mask = (np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.float32)[..., None]
            out[rows] = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return normalise(out)
