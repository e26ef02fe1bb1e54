"""An image folder: one subfolder per class (sorted names give the labels), images of one size.

Images are read with Pillow; all-grayscale folders stay one channel, anything else becomes RGB.
Sample ids are the paths relative to data.path (`cat/0001.png`), so deletion requests can name files.
"""

from pathlib import Path

import numpy as np

from muaudit.data.files import require_path
from muaudit.data.registry import Dataset, register_dataset
from muaudit.errors import BadInputError

EXPECTED = "a folder with one subfolder per class holding images (png, jpg, bmp, ppm) of one size"
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp"}


@register_dataset("image_folder")
def image_folder(path: str | None = None) -> Dataset:
    try:
        from PIL import Image
    except ImportError:
        raise BadInputError("data.name: image_folder needs Pillow; install it with `pip install pillow`") from None
    root = require_path(path, "image_folder", EXPECTED)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [(f, label) for label, c in enumerate(classes)
             for f in sorted((root / c).iterdir()) if f.suffix.lower() in SUFFIXES]
    if len(classes) < 2 or not files:
        raise BadInputError(f"data.path: {root} has {len(classes)} class folders and {len(files)} images; expected {EXPECTED}")
    images = [Image.open(f) for f, _ in files]
    mode = "L" if all(im.mode in ("L", "1") for im in images) else "RGB"
    arrays = []
    for (f, _), im in zip(files, images, strict=True):
        a = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
        if arrays and a.shape != arrays[0].shape:
            raise BadInputError(f"{f}: image size {a.shape[:2]} differs from {arrays[0].shape[:2]}; resize images to one size")
        arrays.append(a)
    x = np.stack(arrays)
    x = x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)
    ids = np.array([Path(f).relative_to(root).as_posix() for f, _ in files])
    return Dataset(name="image_folder", x=x, y=np.array([lbl for _, lbl in files], dtype=np.int64),
                   sample_ids=ids, num_classes=len(classes))
