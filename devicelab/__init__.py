"""devicelab: what happens to your model when it leaves your PC."""

import logging as _logging

__version__ = "0.1.0"

# coremltools imports torchao when it is installed (ExecuTorch brings it), and torchao logs warnings about CUDA
# kernels and Triton that a CPU machine never has; torch's pytree logs a deprecation of torchao's. None of it
# concerns the user's model: keep it off the terminal, real errors still come through.
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)
