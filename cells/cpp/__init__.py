"""C++ kernels shared by the torch and TF `cpp` implementations (`csrc/`), built on first use by
`cells.cpp.build` and called through ctypes. Imports neither torch nor TensorFlow."""
