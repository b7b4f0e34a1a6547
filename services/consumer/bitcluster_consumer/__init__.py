"""The data consumer's service: packed binary codes in, clusters out (``POST /v1/classify``).

The consumer holds only the classifier half of an exported model and never sees an image.
Its world is numpy + onnxruntime + FastAPI: nothing here, nor anything it imports, may import
torch. Run it with ``bitcluster serve consumer --model-dir DIR``.
"""
