"""gluon-tricks: the paper "Bag of Tricks for Image Classification with CNNs" in MXNet Gluon."""
from setuptools import find_packages, setup

COMMON = [
    "numpy",
    "opencv-python-headless",
    "simplejpeg>=1.8,<2",   # libjpeg-turbo: scaled JPEG decoding and fast encoding for prepare
    "gluoncv==0.10.5.post0",
    "matplotlib",
    "tqdm",
    "tensorboardX>=2.6,<3",
    "onnx>=1.13,<1.19",
]

setup(
    name="gluon-tricks",
    version="0.1.0",
    description="Reproduce 'Bag of Tricks for Image Classification with CNNs' with MXNet Gluon",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["gluon_tricks", "gluon_tricks.*"]),
    python_requires=">=3.8",
    install_requires=COMMON,
    extras_require={
        "cpu": ["mxnet==1.9.1"],
        # mxnet-cu112's libmxnet.so links CUDA 11 libraries by soname (cuDNN 8, NVRTC 11.2, NVTX 1,
        # cuBLAS/cuBLASLt 11, cuRAND 10, cuFFT 10, cuSOLVER 11, NCCL 2, cudart 11); these wheels
        # hold exactly those. gluon_tricks/_compat.py makes them loadable; the driver (libcuda.so.1)
        # comes from the machine. Exact versions are in constraints.txt.
        "gpu": [
            "mxnet-cu112==1.9.1",
            "nvidia-cuda-runtime-cu11",
            "nvidia-cuda-nvrtc-cu11",
            "nvidia-nvtx-cu11",
            "nvidia-cublas-cu11",
            "nvidia-cudnn-cu11<9",
            "nvidia-nccl-cu11",
            "nvidia-curand-cu11",
            "nvidia-cufft-cu11",
            "nvidia-cusolver-cu11",
        ],
        # NVIDIA DALI for --data-backend dali-cpu/dali-gpu (one wheel for both: the CUDA 11 build
        # imports and runs CPU pipelines without a GPU); 1.34-1.39 carry the MXNet plugin.
        "dali": ["nvidia-dali-cuda110>=1.34,<1.40"],
        "horovod": ["horovod==0.28.1"],
        "test": ["pytest", "pytest-xdist", "onnxruntime"],
    },
    entry_points={"console_scripts": ["gluon-tricks=gluon_tricks.cli:main"]},
)
