"""Turn NeuroLLM's PyTorch parts into ONNX graphs and check them (DESIGN.md §2, §4)."""
