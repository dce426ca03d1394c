"""What runs the models: onnxruntime sessions, the model files and their preparation, the int8
recogniser, cross-request batching, and the request's deadline.

    sessions.py     sessions on the CPU or CUDA, and the check that a GPU really runs them
    models.py       where the model files come from; denormals zeroed; the prepared-model cache
    quantize.py     the int8 recogniser (calibrated on calibration/'s strips); which precision runs
    batching.py     MicroBatcher: recognition batched across requests (on a GPU)
    deadline.py     DeadlineExceeded, and the checks the read path makes between model calls
"""
