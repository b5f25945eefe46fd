"""Codebook indices of a VQ-VAE over a dataset's windows (ldmc-spec §5, done right): the on-disk format, its reader,
and the usage analysis (pure functions) behind extract_codes' report and plots.

    <codes>/<split>/indices.npy   int16   (N, L)      the code of each latent step of each window (L = 4); with
                                          (N, L, K)   K residual levels (meta `levels`), every level's code
    <codes>/<split>/latents.npy   float32 (N, L, C)   the continuous, normalised latents before quantisation
    <codes>/<split>/meta.json     format, version, dataset, part, sizes, the VQ-VAE's config.json digest and the
                                  windows split's identity (window count, array checksums, windows.csv digest)

`open_codes(split_dir, windows)` checks the format, shapes, dtypes and index range, and (given the windows split)
that the codes were computed from exactly those windows, so that the diffusion stage cannot pair codes and windows
of different builds.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturegen.io import check_format, file_digest, read_json, write_json

CODES_FORMAT = "gesturegen-codes"
CODES_VERSION = 1
NO_LABEL = "none"


class CodesError(ValueError):
    """A codes folder is incomplete, malformed or belongs to other windows; the message names the file and fix."""


# --- format -------------------------------------------------------------------------------------------------------

def windows_identity(split) -> dict[str, Any]:
    """What identifies a windows split (a WindowSplit): its window count, the blake2b of its dir_vec and video_ids
    arrays (from its meta.json checksums) and the digest of its windows.csv."""
    sums = split.meta.get("checksums") or {}
    return {"path": str(split.path), "n_windows": int(split.meta["n_windows"]),
            "dir_vec_blake2b": (sums.get("dir_vec") or {}).get("blake2b"),
            "video_ids_blake2b": (sums.get("video_ids") or {}).get("blake2b"),
            "windows_csv_blake2b": file_digest(Path(split.path) / "windows.csv")[1]}


def write_codes(split_dir: Path, indices: np.ndarray, latents: np.ndarray, info: dict[str, Any]) -> Path:
    """Write one split's indices.npy, latents.npy and meta.json (info: dataset, part, codebook_size, model_digest,
    windows = windows_identity(...), ...)."""
    n, n_latent, code_dim = latents.shape
    if indices.shape[:2] != (n, n_latent) or indices.ndim not in (2, 3):
        raise ValueError(f"indices {indices.shape} do not match latents {latents.shape}")
    if info["codebook_size"] > np.iinfo(np.int16).max + 1:
        raise ValueError(f"codebook_size {info['codebook_size']} does not fit int16 indices")
    split_dir.mkdir(parents=True, exist_ok=True)
    np.save(split_dir / "indices.npy", np.ascontiguousarray(indices, np.int16))
    np.save(split_dir / "latents.npy", np.ascontiguousarray(latents, np.float32))
    write_json(split_dir / "meta.json", {"format": CODES_FORMAT, "version": CODES_VERSION, **info, "n_windows": n,
                                         "n_latent": n_latent, "code_dim": code_dim,
                                         **({"levels": indices.shape[2]} if indices.ndim == 3 else {})})
    return split_dir


@dataclass
class Codes:
    """One split's codes, checked (arrays memory-mapped read-only)."""
    path: Path
    meta: dict[str, Any]
    indices: np.ndarray        # (N, L) int16, or (N, L, K) with K residual levels
    latents: np.ndarray        # (N, L, C) float32

    def __len__(self) -> int:
        return self.indices.shape[0]

    @property
    def first(self) -> np.ndarray:
        """(N, L): the first level's codes (all of them with one codebook)."""
        return first_level(self.indices)


def open_codes(split_dir: str | Path, windows=None) -> Codes:
    """Open extract_codes' <codes>/<split> folder; with `windows` (a WindowSplit or its folder), also check that the
    codes were computed from exactly those windows."""
    split_dir = Path(split_dir)
    meta_path = split_dir / "meta.json"
    fix = "re-run extract_codes"
    if not meta_path.is_file():
        raise CodesError(f"{split_dir}: no meta.json; is this an extract_codes codes/<split> folder? Run "
                         f"extract_codes")
    meta = check_format(read_json(meta_path), meta_path, CODES_FORMAT, CODES_VERSION, "extract_codes", CodesError)
    n, n_latent, code_dim, k = (int(meta[key]) for key in ("n_windows", "n_latent", "code_dim", "codebook_size"))
    idx_shape = (n, n_latent, int(meta["levels"])) if "levels" in meta else (n, n_latent)
    arrays = {}
    for name, dtype, shape in (("indices", np.int16, idx_shape), ("latents", np.float32, (n, n_latent, code_dim))):
        f = split_dir / f"{name}.npy"
        if not f.is_file():
            raise CodesError(f"{f}: missing; the folder is incomplete, {fix}")
        try:
            arr = np.load(f, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise CodesError(f"{f}: not a readable .npy file ({e}); {fix}") from None
        if arr.dtype != dtype or arr.shape != shape:
            raise CodesError(f"{f}: {arr.dtype} {arr.shape}, but {meta_path} says {np.dtype(dtype)} {shape}; {fix}")
        arrays[name] = arr
    if n and (int(arrays["indices"].min()) < 0 or int(arrays["indices"].max()) >= k):
        raise CodesError(f"{split_dir / 'indices.npy'}: indices outside [0, {k}) (codebook_size); {fix}")
    if windows is not None:
        if not hasattr(windows, "meta"):
            from gesturegen.data.windowstore import open_split
            windows = open_split(windows, verify=False)
        want, have = windows_identity(windows), meta.get("windows") or {}
        if want["n_windows"] != n:
            raise CodesError(f"{split_dir}: codes of {n} windows, but {windows.path} has {want['n_windows']}; "
                             f"these codes belong to another windows build: {fix} on {windows.path.parent}")
        changed = [key for key in want if key != "path" and have.get(key) != want[key]]
        if changed:
            raise CodesError(f"{split_dir}: computed from windows whose {', '.join(changed)} differ from "
                             f"{windows.path} ({have.get('path')!r} then); {fix} on {windows.path.parent}")
    return Codes(split_dir, meta, arrays["indices"], arrays["latents"])


# --- encoding -----------------------------------------------------------------------------------------------------

def encode_windows(model, dir_vec: np.ndarray, batch_size: int = 256, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(indices (N, L) int16, or (N, L, K) for a model of K residual levels; latents (N, L, C) float32) of windows
    (N, T, D) through an eval-mode VQ-VAE: the normalised encoder output and its nearest codes (what
    model.code_indices gives). `progress` wraps the batches."""
    import torch

    c = model.config
    dev = next(model.parameters()).device
    idx = np.zeros((dir_vec.shape[0], c.n_latent, *((c.levels,) if c.levels > 1 else ())), np.int16)
    lat = np.zeros((dir_vec.shape[0], c.n_latent, c.code_dim), np.float32)
    starts = range(0, dir_vec.shape[0], batch_size)
    model.eval()
    with torch.no_grad():
        for i in progress(starts) if progress else starts:
            z = model.encode(torch.as_tensor(np.array(dir_vec[i:i + batch_size], np.float32), device=dev))
            lat[i:i + len(z)] = z.cpu().numpy()
            idx[i:i + len(z)] = model.nearest_codes(z).cpu().numpy()
    return idx, lat


def tuple_joints(model, tuples, skeleton, part: str, mean_dir_vec: np.ndarray) -> np.ndarray:
    """Joints (M, T, J, 3) of code tuples (M, L): the part decoded, assembled into full-body mean-subtracted
    vectors with the other part at 0 (the mean pose), the mean added back."""
    import torch

    from gesturegen.metrics.motion import joints_from_vectors
    from gesturegen.models.vqvae import assemble, part_dims

    c = model.config
    dims = part_dims(skeleton, part)
    if dims.size != c.out_dim or skeleton.dim != c.in_dim:
        raise ValueError(f"a {part} VQ-VAE with in_dim {c.in_dim}, out_dim {c.out_dim} does not fit the "
                         f"{skeleton.name} skeleton ({skeleton.dim} dims, {dims.size} for the {part})")
    idx = torch.as_tensor(np.asarray(tuples, np.int64).reshape(-1, c.n_latent), device=next(model.parameters()).device)
    with torch.no_grad():
        motion = model.decode_indices(idx).cpu().numpy() if len(idx) else np.zeros((0, c.n_frames, c.out_dim))
    full = assemble(np.zeros((len(idx), c.n_frames, c.in_dim), np.float32), motion, dims)
    return joints_from_vectors(full, mean_dir_vec, skeleton)


# --- analysis (pure) ----------------------------------------------------------------------------------------------

def code_counts(indices: np.ndarray, codebook_size: int) -> np.ndarray:
    """Histogram (L, K) of the codes at each latent step; .sum(0) is the overall usage."""
    indices = np.asarray(indices, np.int64)
    return np.stack([np.bincount(indices[:, s], minlength=codebook_size) for s in range(indices.shape[1])])


def perplexity(counts: np.ndarray) -> float:
    """exp(entropy) (natural log) of a histogram: the effective number of codes in use (nan when empty)."""
    counts = np.asarray(counts, np.float64).ravel()
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts[counts > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def dead_codes(counts: np.ndarray) -> np.ndarray:
    """Codes never used (counts (K,) or (L, K), summed over steps)."""
    counts = np.asarray(counts)
    return np.flatnonzero((counts.sum(0) if counts.ndim == 2 else counts) == 0)


def top_tuples(indices: np.ndarray, k: int = 10) -> list[tuple[tuple[int, ...], int]]:
    """The k most frequent code tuples (rows of indices (N, L)) with their counts; ties by ascending tuple."""
    counts = Counter(map(tuple, np.asarray(indices, np.int64).tolist()))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def usage_summary(counts: np.ndarray, top: int = 5) -> dict[str, Any]:
    """n, used and dead codes, perplexity, and the `top` most used codes with counts, of one histogram (K,)."""
    counts = np.asarray(counts, np.int64)
    order = np.argsort(-counts, kind="stable")[:top]
    n = int(counts.sum())
    return {"n": n, "used": int((counts > 0).sum()), "dead": int((counts == 0).sum()),
            "perplexity": perplexity(counts), "max_share": float(counts.max() / n) if n else None,
            "top_codes": [[int(c), int(counts[c])] for c in order if counts[c] > 0]}


def first_level(indices: np.ndarray) -> np.ndarray:
    """(N, L): the first level's codes of indices (N, L) or, with residual levels, (N, L, K)."""
    return indices if indices.ndim == 2 else indices[..., 0]


def level_usage(indices: np.ndarray, codebook_size: int) -> list[dict[str, Any]]:
    """Per residual level of indices (N, L, K): its overall perplexity and dead (never used) codes; [] for (N, L)."""
    if indices.ndim == 2:
        return []
    return [{"level": k, "perplexity": round(split_usage(indices[..., k], codebook_size)["overall"]["perplexity"], 3),
             "dead": int(dead_codes(code_counts(indices[..., k], codebook_size)).size)}
            for k in range(indices.shape[2])]


def split_usage(indices: np.ndarray, codebook_size: int) -> dict[str, Any]:
    """usage_summary of a split overall and per latent step."""
    counts = code_counts(indices, codebook_size)
    return {"overall": usage_summary(counts.sum(0)), "steps": [usage_summary(c) for c in counts]}


def window_labels(annotations, n_frames: int, fps: float) -> np.ndarray:
    """Per window the lexical gesture label with the longest overlap of the window [0, n_frames / fps), NO_LABEL
    where no event overlaps it (annotations: gesturegen.data.annotations.WindowAnnotations)."""
    labels = np.full(annotations.n_windows, NO_LABEL, dtype=object)
    best = np.zeros(annotations.n_windows)
    ev = annotations.events
    overlap = np.minimum(ev["end_s"].to_numpy(), n_frames / fps) - np.maximum(ev["start_s"].to_numpy(), 0.0)
    for w, label, o in zip(ev["window"].to_numpy(), ev["label"].to_numpy(), overlap):
        if o > best[w]:
            labels[w], best[w] = label, o
    return labels.astype(str)


def subsample(n: int, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of at most `cap` of n items (all when n <= cap), drawn with `seed`."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def embed_2d(x: np.ndarray, method: str, seed: int, pca_dims: int = 50, tsne_perplexity: float = 30.0,
             tsne_max_iter: int = 500) -> np.ndarray:
    """2-D embedding (N, 2) of vectors (N, C): "pca" (the first two components) or "tsne" (PCA to pca_dims first;
    the perplexity is lowered to (N - 1) / 3 for small N)."""
    from sklearn.decomposition import PCA

    x = np.asarray(x, np.float64)
    if x.shape[0] < 3:
        return np.zeros((x.shape[0], 2))
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(x)
    if method != "tsne":
        raise ValueError(f"method: 'pca' or 'tsne', got {method!r}")
    from sklearn.manifold import TSNE

    x = PCA(min(pca_dims, *x.shape), random_state=seed).fit_transform(x)
    return TSNE(2, perplexity=min(tsne_perplexity, (x.shape[0] - 1) / 3), init="pca", random_state=seed,
                max_iter=tsne_max_iter).fit_transform(x)
