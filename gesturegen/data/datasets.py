"""torch Datasets over the memory-mapped window arrays (only the rows a batch asks for leave the memmap)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class WindowArray(Dataset):
    """Rows of an (N, ...) array, memory-mapped or not, as float32 tensors."""

    def __init__(self, arr: np.ndarray):
        self.arr = arr

    def __len__(self) -> int:
        return self.arr.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.arr[i], dtype=np.float32))
