"""The inference container: PP-OCR (det + cls + rec) on onnxruntime, behind the SageMaker contract."""
