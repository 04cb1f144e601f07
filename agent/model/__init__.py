"""NeuroLLM: architectures, tokenizer, parameter layout (numpy) and the torch modules.

`arch`, `tokenizer` and `parameters` need numpy only; `torch_modules` imports torch
and is loaded only by code that trains or exports with PyTorch.
"""
