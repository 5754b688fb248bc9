"""Shared code for the course *Advanced Computer Vision with Deep Learning*.

One module per topic; each public function names the notebook that teaches it.

- ``utils.course``   the fast/full mode switch, knobs, notebook set-up (every notebook)
- ``utils.knobs``    every notebook's knobs in one table (epochs, data sizes, weights)
- ``utils.images``   loading and saving images with clear errors (every notebook)
- ``utils.data``     the catalogue of offline and full-mode data sets
- ``utils.weights``  the registry of pretrained assets (full mode only)
- ``utils.checks``   automatic checks for the exercises
- ``utils.notebooks`` notebook hygiene: cleaning, student copies
"""

__version__ = "0.1.0"
