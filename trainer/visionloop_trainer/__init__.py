"""VisionLoop's trainer: a YOLO-style detector trained with PyTorch on CPU, exported to ONNX in
the YOLOv8 layout. Driven as a child process (``python3 -m visionloop_trainer train ...``);
see DESIGN.md §4 for the contract and README.md for the flags."""

__version__ = "0.1.0"
