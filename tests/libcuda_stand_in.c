/* Test-only stand-in for the NVIDIA driver's libcuda.so.1, for running MXNet's CUDA build on a
 * machine without a GPU. Every driver entry point libmxnet.so (mxnet-cu112 1.9.1) imports
 * (`nm -D --undefined-only libmxnet.so`, the cu* names that are not cuDNN/cuBLAS/...) returns
 * CUDA_ERROR_NO_DEVICE, so MXNet sees zero GPUs.
 *
 * Compiled with -DSTAND_IN_NAME='"NVIDIA H100 80GB HBM3"' -DSTAND_IN_MAJOR=9 -DSTAND_IN_MINOR=0,
 * the driver API calls that gluon_tricks/gpu_arch.py makes (cuInit, cuDeviceGetCount,
 * cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute for the compute capability) report one
 * device of that name and capability; the CUDA runtime inside MXNet still finds no usable driver.
 * The tests compile it into a temporary folder; it is never installed or loaded outside them. */
#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_NO_DEVICE 100
#define CUDA_ERROR_INVALID_DEVICE 101
#define NO_DEVICE(name) int name(void) { return CUDA_ERROR_NO_DEVICE; }

NO_DEVICE(cuDevicePrimaryCtxRetain)
NO_DEVICE(cuGetErrorString)
NO_DEVICE(cuGraphKernelNodeGetParams)
NO_DEVICE(cuGraphNodeGetType)
NO_DEVICE(cuLaunchKernel)
NO_DEVICE(cuModuleGetFunction)
NO_DEVICE(cuModuleLoadData)
NO_DEVICE(cuModuleLoadDataEx)
NO_DEVICE(cuModuleUnload)

#ifdef STAND_IN_NAME
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76

int cuInit(unsigned int flags) { return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }

int cuDeviceGetCount(int *count) {
  *count = 1;
  return CUDA_SUCCESS;
}

int cuDeviceGet(int *device, int ordinal) {
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *device = 0;
  return CUDA_SUCCESS;
}

int cuDeviceGetName(char *name, int length, int device) {
  const char *text = STAND_IN_NAME;
  int i = 0;
  if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (length < 1) return CUDA_ERROR_INVALID_VALUE;
  for (; i < length - 1 && text[i]; i++) name[i] = text[i];
  name[i] = 0;
  return CUDA_SUCCESS;
}

int cuDeviceGetAttribute(int *value, int attribute, int device) {
  if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) *value = STAND_IN_MAJOR;
  else if (attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR) *value = STAND_IN_MINOR;
  else return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}
#else
NO_DEVICE(cuInit)
NO_DEVICE(cuDeviceGet)
NO_DEVICE(cuDeviceGetCount)
NO_DEVICE(cuDeviceGetName)
NO_DEVICE(cuDeviceGetAttribute)
#endif
