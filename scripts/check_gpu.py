"""Check the GPU path of the curate stage on a machine with an NVIDIA GPU.

    .venv/bin/python scripts/check_gpu.py              # fails (exit 1) when CUDA is not usable
    .venv/bin/python scripts/check_gpu.py --allow-cpu  # dry run of the same checks on CPU

Checks: CUDA is visible to torch; the embedding resource picks it (device "auto"), in fp16/bf16;
GPU embeddings match plain CPU fp32 (cosine >= --min-cosine); throughput of both; the curate assets
carry the tags the production run launcher uses to put them on the GPU task. Prints one JSON report.
Needs a CUDA build of torch (the CPU wheel in the default environment reports no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = [
    "OpenAI releases a new reasoning model for developers",
    "A startup raises $20M to build warehouse robots",
    "Researchers find a vulnerability in a popular VPN client that leaks IP addresses",
    "Court orders a social network to pay $500M over harms to children",
    "How we rebuilt our data pipeline with Dagster and Delta Lake",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allow-cpu", action="store_true", help="run the checks on CPU when there is no GPU")
    ap.add_argument("--n", type=int, default=512, help="texts to encode for the throughput check")
    ap.add_argument("--min-cosine", type=float, default=0.999)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from bitbybit_assets.curate.assets import GPU_OP_TAGS, GPU_TAGS, article_embeddings, scored_articles
    from resources.embeddings import Encoder

    report: dict = {
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name(0)
        report["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        report["bf16_supported"] = torch.cuda.is_bf16_supported()
    elif not args.allow_cpu:
        report["ok"] = False
        report["error"] = "CUDA is not available to torch (CPU-only torch build or no driver)"
        print(json.dumps(report, indent=2))
        return 1

    texts = [f"{SAMPLE[i % len(SAMPLE)]} (item {i})" for i in range(args.n)]
    auto = Encoder(device="auto", batch_size=128)
    info = auto.info()
    report["auto_choice"] = info
    ref = Encoder(device="cpu", backend="torch", batch_size=64)
    ref.encode(texts[:8])
    auto.encode(texts[:8])

    t0 = time.perf_counter()
    a = auto.encode(texts)
    if info["device"].startswith("cuda"):
        torch.cuda.synchronize()
    t_auto = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = ref.encode(texts)
    t_ref = time.perf_counter() - t0
    cos = (a * b).sum(axis=1)
    report.update(
        {
            "texts": len(texts),
            "auto_per_s": round(len(texts) / t_auto, 1),
            "cpu_fp32_per_s": round(len(texts) / t_ref, 1),
            "min_cosine_vs_cpu_fp32": float(np.min(cos)),
            "mean_cosine_vs_cpu_fp32": float(np.mean(cos)),
        }
    )
    tags_ok = all(
        a_.op.tags.items() >= GPU_OP_TAGS.items() and next(iter(a_.specs)).tags.items() >= GPU_TAGS.items()
        for a_ in (article_embeddings, scored_articles)
    )
    report["asset_tags_ok"] = tags_ok
    on_gpu = info["device"].startswith("cuda") and info["precision"] in ("fp16", "bf16")
    report["ok"] = bool(
        (on_gpu or args.allow_cpu) and report["min_cosine_vs_cpu_fp32"] >= args.min_cosine and tags_ok
    )
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
