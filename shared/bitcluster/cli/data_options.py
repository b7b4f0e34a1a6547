"""The options that say where a command's images come from: ``--data``, ``--labels``, ``--resize``, ``--channels``.

Declared once here for ``train``, ``teacher``, ``sweep``, ``evaluate`` and ``report``; the
command joins them into one data source (:func:`bitcluster.data.data_source`).
"""

from __future__ import annotations

import typer

DATA_HELP = ("mnist, digits, the path of a .npz file, or a folder of PNG/JPEG images (searched recursively, "
             "split 80/20 as an .npz with only 'x').")
LABELS_OPTION = typer.Option("none", help="Folders: none, or 'folders' to label each image by its top sub-folder "
                                          "(used only to score the clustering).")
RESIZE_OPTION = typer.Option(False, help="Folders: resize images of several sizes to the most common one "
                                         "(stretching those of another aspect ratio, with a warning); "
                                         "without it several sizes are refused.")
CHANNELS_OPTION = typer.Option("auto", help="Folders: auto (RGB when some file has a pixel with R != G or G != B, "
                                             "else grey), 1 (grey) or 3 (RGB); files of the other kind are "
                                             "converted, with a warning. An .npz is RGB when its x is (N, H, W, 3).")
