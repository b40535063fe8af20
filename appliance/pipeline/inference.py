"""The one TFLite inference shim: LiteRT (``ai_edge_litert``) first, ``tflite_runtime`` second.

>>> model = load_model("appliance/pipeline/models/finger_quality.tflite", threads=1)
>>> (score,) = model.run([features])

Every model in ``appliance/pipeline/models/`` is loaded through :func:`load_model`; nothing else
imports a TFLite runtime. A wrapper is safe to share between threads (calls are serialised).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ApplianceError, BackendMissing

# (module, what to install when it is missing), in order of preference
RUNTIMES: tuple[tuple[str, str], ...] = (
    ("ai_edge_litert.interpreter", "pip install ai-edge-litert==2.3.0"),
    ("tflite_runtime.interpreter", "pip install tflite-runtime==2.14.0 (with numpy<2)"),
)


class ModelError(ApplianceError):
    """A model file is missing, unreadable or not what the caller expects."""

    code = "model"


def _interpreter_class() -> tuple[type, str]:
    tried = []
    for module_name, _hint in RUNTIMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            tried.append(f"{module_name} ({exc})")
            continue
        return module.Interpreter, module_name.split(".")[0]
    raise BackendMissing(
        "no TFLite runtime: install LiteRT with `pip install ai-edge-litert==2.3.0`, or on a "
        "board without a LiteRT wheel `pip install tflite-runtime==2.14.0` (needs numpy<2); "
        f"tried {'; '.join(tried)}"
    )


def runtime_name() -> str:
    """Which runtime :func:`load_model` would use (raises :class:`BackendMissing` if none)."""
    return _interpreter_class()[1]


class Model:
    """A loaded model: ``run(inputs) -> outputs`` with numpy arrays, in the model's order."""

    def __init__(self, interpreter: Any, path: Path, runtime: str, threads: int) -> None:
        self._interp = interpreter
        self._lock = threading.Lock()
        self.path = path
        self.runtime = runtime
        self.threads = threads
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()

    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(v) for v in d["shape"]) for d in self.inputs]

    def output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(v) for v in d["shape"]) for d in self.outputs]

    def run(self, inputs: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """Feed ``inputs`` (one array, or one per model input) and return every output (copies).

        Arrays are cast to the input's dtype; an input whose shape differs from the model's
        (another batch size, say) is resized first.
        """
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != len(self.inputs):
            raise ModelError(
                f"{self.path.name} takes {len(self.inputs)} input(s), got {len(arrays)}"
            )
        with self._lock:
            try:
                return self._run(arrays)
            except (ValueError, RuntimeError) as exc:
                shapes = [tuple(a.shape) for a in arrays]
                raise ModelError(
                    f"{self.path.name} rejected inputs of shape {shapes} "
                    f"(expects {self.input_shapes()}): {exc}"
                ) from None

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        resized = False
        for detail, arr in zip(self.inputs, arrays, strict=True):
            if tuple(arr.shape) != tuple(detail["shape"]):
                self._interp.resize_tensor_input(detail["index"], list(arr.shape))
                resized = True
        if resized:
            self._interp.allocate_tensors()
            self.inputs = self._interp.get_input_details()
            self.outputs = self._interp.get_output_details()
        for detail, arr in zip(self.inputs, arrays, strict=True):
            self._interp.set_tensor(detail["index"], np.asarray(arr, dtype=detail["dtype"]))
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).copy() for d in self.outputs]


def load_model(path: str | Path, threads: int = 1) -> Model:
    """Load a ``.tflite`` file with ``threads`` CPU threads."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    interpreter_cls, runtime = _interpreter_class()
    try:
        interp = interpreter_cls(model_path=str(path), num_threads=max(1, int(threads)))
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load model {path.name}: {exc}") from None
    return Model(interp, path, runtime, max(1, int(threads)))
