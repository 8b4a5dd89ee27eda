"""synthgap: make synthetic object-detection data match a small real dataset, and prove it.

Packages: `render` (BlenderProc scenes -> COCO + sidecar), `align` (metadata, distances, GMM fit,
config selection), `benchmark` (detectors trained on variants, scored on real data). This package holds
the `synthgap` command line, shared utilities and the closed loop (`synthgap run` / `synthgap demo`).
"""
__version__ = "0.1.0"
