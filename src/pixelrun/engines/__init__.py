"""Models served by Pixelrun, one package per model."""

import logging

# torchao (installed for PIXELRUN_QUANTIZE; diffusers imports it whenever it is there) warns
# on import about CUDA-only kernels it cannot load and enums torch now handles itself.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
# diffusers looks for serialized torchao tensor classes that newer torchao renamed; Pixelrun
# quantizes at load time and never reads such checkpoints.
logging.getLogger("diffusers.quantizers.torchao.torchao_quantizer").setLevel(logging.ERROR)
