/* Test-only stand-in for the NVIDIA driver's libcuda.so.1, for running MXNet's CUDA build on a
 * machine without a GPU. Every driver entry point libmxnet.so (mxnet-cu112 1.9.1) imports
 * (`nm -D --undefined-only libmxnet.so`, the cu* names that are not cuDNN/cuBLAS/...) returns
 * CUDA_ERROR_NO_DEVICE, so MXNet sees zero GPUs. tests/test_cuda_build.py compiles it into a
 * temporary folder; it is never installed or loaded outside the tests. */
#define CUDA_ERROR_NO_DEVICE 100
#define NO_DEVICE(name) int name(void) { return CUDA_ERROR_NO_DEVICE; }

NO_DEVICE(cuDeviceGet)
NO_DEVICE(cuDevicePrimaryCtxRetain)
NO_DEVICE(cuGetErrorString)
NO_DEVICE(cuGraphKernelNodeGetParams)
NO_DEVICE(cuGraphNodeGetType)
NO_DEVICE(cuLaunchKernel)
NO_DEVICE(cuModuleGetFunction)
NO_DEVICE(cuModuleLoadData)
NO_DEVICE(cuModuleLoadDataEx)
NO_DEVICE(cuModuleUnload)
