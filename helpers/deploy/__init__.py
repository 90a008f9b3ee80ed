"""Deployment: ONNX/TensorRT export, parity with PyTorch, latency."""
