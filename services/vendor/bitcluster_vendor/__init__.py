"""The data vendor's service: images in, packed binary codes out (``POST /v1/encode``).

The vendor holds the images and the encoder half of an exported model; what leaves it is
``ceil(D / 8)`` bytes per image. Run it with ``bitcluster serve vendor --model-dir DIR``.
"""
