"""Image data sets made here, of kinds the project was never tuned to: 28x28 grey, 10 classes.

The teacher's choices are checked on digits, MNIST *and* these, never on one set. They are drawn,
not downloaded, so they run anywhere (the glyphs use whichever DejaVu fonts the machine has):

- ``shapes``: ten outline/filled geometric figures at random position, size, rotation and stroke
  width, with blur and pixel noise. Position varies more than in MNIST, so raw-pixel K-means is weak.
- ``glyphs``: the letters A-J in the machine's DejaVu fonts (up to 22 faces), random size,
  rotation, shift and stroke; a notMNIST-like set.

Every image is white on black (like MNIST), uint8. ``make(name, n, seed)`` gives (x, y).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 28
SCALE = 4  # drawn at 4x, then shrunk with antialiasing
SETS = ("shapes", "glyphs")
SHAPES = ("circle", "disc", "square", "filled square", "triangle", "filled triangle", "plus", "cross",
          "two bars", "ring and dot")
LETTERS = "ABCDEFGHIJ"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"), Path("/usr/share/fonts/dejavu"))


def make(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of set ``name``: (n, 28, 28) uint8 and (n,) int64 labels, balanced, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    draw = {"shapes": _shape, "glyphs": _glyph_drawer()}[name]
    images = np.stack([_finish(draw(int(k), rng), rng) for k in labels])
    return images, labels.astype(np.int64)


def write_npz(name: str, n: int, seed: int, path: Path) -> Path:
    """The set as an ``.npz`` of ``x`` and ``y`` (bitcluster's fixed 80/20 split applies)."""
    x, y = make(name, n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x=x, y=y)
    return path


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (SIDE * SCALE, SIDE * SCALE), 0)
    return image, ImageDraw.Draw(image)


def _finish(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0, 1.5)) * SCALE / 2))
    small = np.asarray(image.resize((SIDE, SIDE), Image.Resampling.LANCZOS), dtype=np.float32)
    small = small + rng.normal(0, 12, small.shape)
    return np.clip(small, 0, 255).astype(np.uint8)


def _polygon(cx: float, cy: float, radius: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [(cx + radius * math.cos(angle + 2 * math.pi * i / sides),
             cy + radius * math.sin(angle + 2 * math.pi * i / sides)) for i in range(sides)]


def _shape(kind: int, rng: np.random.Generator) -> Image.Image:
    image, draw = _canvas()
    s = SCALE
    r = rng.uniform(5, 10) * s
    cx, cy = (SIDE / 2 + rng.uniform(-4, 4)) * s, (SIDE / 2 + rng.uniform(-4, 4)) * s
    width = int(rng.uniform(1.2, 3.0) * s)
    angle = rng.uniform(0, 2 * math.pi)
    box = (cx - r, cy - r, cx + r, cy + r)
    name = SHAPES[kind]
    if name == "circle":
        draw.ellipse(box, outline=255, width=width)
    elif name == "disc":
        draw.ellipse(box, fill=255)
    elif name in ("square", "filled square"):
        points = _polygon(cx, cy, r * 1.2, 4, angle)
        draw.polygon(points, fill=255 if name == "filled square" else None, outline=255, width=width)
    elif name in ("triangle", "filled triangle"):
        points = _polygon(cx, cy, r * 1.2, 3, angle)
        draw.polygon(points, fill=255 if name == "filled triangle" else None, outline=255, width=width)
    elif name in ("plus", "cross"):
        tilt = rng.uniform(-0.25, 0.25) + (math.pi / 4 if name == "cross" else 0)
        for a in (tilt, tilt + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=255, width=width)
    elif name == "two bars":
        a = rng.uniform(-0.3, 0.3)
        gap = r * 0.45
        for side in (-1, 1):
            ox, oy = -side * gap * math.sin(a), side * gap * math.cos(a)
            dx, dy = r * math.cos(a), r * math.sin(a)
            draw.line((cx + ox - dx, cy + oy - dy, cx + ox + dx, cy + oy + dy), fill=255, width=width)
    else:  # ring and dot
        draw.ellipse(box, outline=255, width=width)
        d = r * 0.3
        draw.ellipse((cx - d, cy - d, cx + d, cy + d), fill=255)
    return image


def fonts() -> list[Path]:
    """The DejaVu faces this machine has (sorted, so a seed makes the same set)."""
    found = sorted({p for d in FONT_DIRS if d.is_dir() for p in d.glob("DejaVu*.ttf") if "Math" not in p.name})
    return found


def _glyph_drawer():
    faces = fonts()
    if not faces:
        raise RuntimeError("the glyphs set needs DejaVu fonts (Debian: fonts-dejavu-core); none found in "
                           + ", ".join(map(str, FONT_DIRS)))
    loaded: dict[tuple[Path, int], ImageFont.FreeTypeFont] = {}

    def draw_glyph(kind: int, rng: np.random.Generator) -> Image.Image:
        face = faces[int(rng.integers(len(faces)))]
        size = int(rng.uniform(15, 23) * SCALE)
        font = loaded.setdefault((face, size), ImageFont.truetype(str(face), size))
        image, draw = _canvas()
        cx, cy = (SIDE / 2 + rng.uniform(-3, 3)) * SCALE, (SIDE / 2 + rng.uniform(-3, 3)) * SCALE
        draw.text((cx, cy), LETTERS[kind], fill=255, font=font, anchor="mm",
                  stroke_width=int(rng.integers(0, 2 * SCALE // 2 + 1)), stroke_fill=255)
        return image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR,
                            center=(cx, cy))

    return draw_glyph
