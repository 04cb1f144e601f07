"""Runtimes: one stage interface, interchangeable backends (DESIGN.md §4).

Backends import their engine (onnxruntime, torch) lazily, inside the functions
that need it, so choosing ONNX Runtime never imports torch.
"""
