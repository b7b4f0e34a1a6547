"""The one error for codes of another model, in a module of its own so the HTTP client can raise it.

It imports nothing (no onnxruntime, no httpx): the model layer raises it
(:meth:`bitcluster.core.onnx_model.OnnxModel.check_codes_origin`, so ``bc.Model.classify`` and both
services), and the HTTP client raises its subclass :class:`bitcluster.client.errors.ModelMismatchError`
when a service answers that it serves another model. ``except bc.ModelMismatchError`` catches both.
"""

from __future__ import annotations


class ModelMismatchError(ValueError):
    """Codes made by another model than the one that would read them: comparing them would be meaningless."""
